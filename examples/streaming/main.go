// Command streaming is a worker whose handler streams: it yields the words
// of its input text one at a time. Clients read them with /stream.
//
// Set STREAM_AGGREGATE=true, or pass --aggregate, to also make the job's
// final output the list of every word (Config.ReturnAggregateStream).
//
//	go run ./examples/streaming --test_input '{"input": {"text": "one two three"}}'
//	go run ./examples/streaming --aggregate --test_input '{"input": {"text": "one two"}}'
package main

import (
	"context"
	"iter"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/serverless"
)

// input is what a job sends.
type input struct {
	Text string `json:"text"`
	// DelayMS is a pause before each word, to watch the stream arrive.
	DelayMS int `json:"delay_ms"`
}

// words yields each word of the input text.
func words(ctx context.Context, job *serverless.Job) iter.Seq2[any, error] {
	return func(yield func(any, error) bool) {
		var in input
		if err := job.Decode(&in); err != nil {
			yield(nil, err)
			return
		}
		for _, w := range strings.Fields(in.Text) {
			if in.DelayMS > 0 {
				select {
				case <-ctx.Done():
					yield(nil, ctx.Err())
					return
				case <-time.After(time.Duration(in.DelayMS) * time.Millisecond):
				}
			}
			if !yield(w, nil) {
				return
			}
		}
	}
}

// config builds the worker's configuration from the environment and args.
func config(args []string, getenv func(string) string) serverless.Config {
	return serverless.Config{
		StreamHandler:         words,
		ReturnAggregateStream: getenv("STREAM_AGGREGATE") == "true" || slices.Contains(args, "--aggregate"),
	}
}

func main() {
	serverless.Start(config(os.Args[1:], os.Getenv))
}

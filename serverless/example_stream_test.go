package serverless_test

import (
	"context"
	"fmt"
	"iter"
	"strings"

	"github.com/sluicehq/sluice/serverless"
	"github.com/sluicehq/sluice/serverless/serverlesstest"
)

// A StreamFunc yields chunks; each reaches the job's /stream in order. With
// ReturnAggregateStream the final output is the list of every chunk.
func ExampleStreamFunc() {
	cfg := serverless.Config{
		StreamHandler: func(ctx context.Context, job *serverless.Job) iter.Seq2[any, error] {
			return func(yield func(any, error) bool) {
				var text string
				if err := job.Decode(&text); err != nil {
					yield(nil, err)
					return
				}
				for _, word := range strings.Fields(text) {
					if !yield(word, nil) {
						return
					}
				}
			}
		},
		ReturnAggregateStream: true,
	}
	res, err := serverlesstest.Exec(context.Background(), cfg, "to be streamed")
	if err != nil {
		panic(err)
	}
	for _, chunk := range res.Chunks {
		fmt.Println("chunk:", string(chunk))
	}
	fmt.Println("final:", string(res.Body))
	// Output:
	// chunk: "to"
	// chunk: "be"
	// chunk: "streamed"
	// final: {"output":["to","be","streamed"]}
}

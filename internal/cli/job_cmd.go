package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/client"
)

// liveLongPoll is the long-poll wait used while a live line is shown, so
// progress updates appear within a couple of seconds.
const liveLongPoll = 2 * time.Second

const inputHelp = `INPUT is JSON text, @FILE, or - to read standard input; without it the
input is {}. A JSON object with an "input" key is the whole request body
(its "webhook", "policy", "s3Config", ... are sent too); any other value is
wrapped as {"input": INPUT}. Flags override the body's webhook and policy.`

func runCmd(s streams) *cobra.Command {
	var c conn
	var rf requestFlags
	cmd := &cobra.Command{
		Use:   "run ENDPOINT [INPUT]",
		Short: "Submit a job and print its id",
		Long: "Submit a job to ENDPOINT (POST /v2/ENDPOINT/run) and print the job id at once.\n" +
			"Follow it with sluice wait, stream or status.\n\n" + inputHelp + "\n\nExit code 0 means the job was accepted.",
		Example: `  sluice run echo '{"prompt": "hello"}'
  sluice run echo @request.json --webhook https://example.com/hook
  echo '{"input": {"n": 3}, "policy": {"ttl": 600000}}' | sluice run echo -
  JOB=$(sluice run render '{"scene": 4}') && sluice wait render "$JOB"`,
		Args: args(1, 2, "ENDPOINT [INPUT]"),
		RunE: func(cmd *cobra.Command, a []string) error {
			ep, opts, input, err := prepareJob(s, &rf, a)
			if err != nil {
				return err
			}
			st, err := c.client().Endpoint(ep).Run(cmd.Context(), input, opts...)
			return c.printAccepted(s, st, err)
		},
	}
	addRequestFlags(cmd, &rf)
	addConnFlags(cmd, &c)
	return cmd
}

// prepareJob reads the endpoint and input arguments of run and runsync.
func prepareJob(s streams, rf *requestFlags, a []string) (string, []client.RequestOption, json.RawMessage, error) {
	arg := ""
	if len(a) > 1 {
		arg = a[1]
	}
	in, err := readInput(arg, s.in)
	if err != nil {
		return "", nil, nil, err
	}
	opts, err := rf.options(in)
	if err != nil {
		return "", nil, nil, err
	}
	return a[0], opts, in.Input, nil
}

func runsyncCmd(s streams) *cobra.Command {
	var c conn
	var rf requestFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "runsync ENDPOINT [INPUT]",
		Short: "Submit a job, wait for it, and print its output",
		Long: "Submit a job to ENDPOINT (POST /v2/ENDPOINT/runsync), wait until it finishes, and\n" +
			"print its output (with --json, the final status response). If the server answers\n" +
			"before the job is done, runsync keeps waiting on the job's status. On a terminal,\n" +
			"a live line on stderr shows the status, time queued, time running and the latest\n" +
			"progress update.\n\n" + inputHelp + "\n\n" +
			"Exit code 0 means the job COMPLETED; 3 that it FAILED, was CANCELLED or TIMED_OUT;\n" +
			"4 that --timeout ran out first (the job goes on).",
		Example: `  sluice runsync echo '{"prompt": "hello"}'
  sluice runsync upscale @image.json --timeout 10m > result.json
  sluice runsync echo '[1, 2, 3]' --json | jq .executionTime`,
		Args: args(1, 2, "ENDPOINT [INPUT]"),
		RunE: func(cmd *cobra.Command, a []string) error {
			ep, opts, input, err := prepareJob(s, &rf, a)
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(cmd.Context(), timeout)
			defer cancel()
			var clientOpts []client.Option
			var last *client.JobStatus
			var jobID string
			var live *liveLine
			if isTerminal(s.err) {
				live = startLive(s.err, "")
				clientOpts = append(clientOpts, client.WithLongPoll(liveLongPoll))
				opts = append(opts, client.WithSyncWait(liveLongPoll))
			}
			opts = append(opts, client.OnAccepted(func(id string) {
				jobID = id
				if live != nil {
					live.accepted(id) // the id shows before the first status
				}
			}), client.OnUpdate(func(st *client.JobStatus) {
				last, jobID = st, st.ID
				if live != nil {
					live.update(st)
				}
			}))
			st, err := c.client(clientOpts...).Endpoint(ep).RunSync(ctx, input, opts...)
			if live != nil {
				live.finish()
			}
			if err != nil {
				return c.waitError(cmd.Context(), err, ep, jobID, last, timeout)
			}
			return printResult(s, &c, st)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up waiting after this long (exit 4; the job goes on), e.g. 5m")
	addRequestFlags(cmd, &rf)
	addConnFlags(cmd, &c)
	return cmd
}

func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// waitError explains why waiting for a job stopped: an interrupt (exit
// 130), --timeout (exit 4) or a failed request (exit 1).
func (c *conn) waitError(parent context.Context, err error, ep, jobID string, last *client.JobStatus, timeout time.Duration) error {
	switch {
	case parent.Err() != nil && jobID != "":
		return withCode(exitInterrupted, fmt.Errorf("interrupted; job %s goes on (sluice wait %s %s; sluice cancel %s %s)", jobID, ep, jobID, ep, jobID))
	case parent.Err() != nil:
		return withCode(exitInterrupted, errors.New("interrupted before the server answered; the job may still run"))
	case errors.Is(err, context.DeadlineExceeded) && jobID != "":
		state := "not finished" // accepted, no status seen yet (runsync holding its wait)
		if last != nil {
			state = "still " + string(last.Status)
		}
		return withCode(exitJobPending, fmt.Errorf("job %s %s after %s; it goes on (sluice wait %s %s; sluice cancel %s %s)",
			jobID, state, timeout, ep, jobID, ep, jobID))
	case errors.Is(err, context.DeadlineExceeded):
		return withCode(exitJobPending, fmt.Errorf("no answer after %s; the job may still run", timeout))
	}
	return c.explain(err)
}

// printResult prints a finished job: its output, or with --json the status
// body. A job that did not complete exits 3 with its error.
func printResult(s streams, c *conn, st *client.JobStatus) error {
	if c.json {
		if err := writeJSON(s.out, st.Raw, false); err != nil {
			return err
		}
	} else if st.Status == client.StatusCompleted && len(st.Output) > 0 {
		if err := writeJSON(s.out, st.Output, isTerminal(s.out)); err != nil {
			return err
		}
	}
	if err := st.Err(); err != nil {
		return withCode(exitJobFailed, err)
	}
	return nil
}

func waitCmd(s streams) *cobra.Command {
	var c conn
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait ENDPOINT JOB_ID",
		Short: "Wait for a job to finish and print its output",
		Long: "Wait until job JOB_ID of ENDPOINT finishes (long-polling /status-sync, or polling\n" +
			"/status), then print its output (with --json, the final status response). On a\n" +
			"terminal, a live line on stderr shows the status, time queued, time running and\n" +
			"the latest progress update.\n\n" +
			"Exit code 0 means the job COMPLETED; 3 that it FAILED, was CANCELLED or TIMED_OUT;\n" +
			"4 that --timeout ran out first (the job goes on).",
		Example: `  sluice wait echo 6c2f0e1a-4b1e-4a57-9d0c-0d1b6f3f6a2e
  sluice wait render "$JOB" --timeout 30m --json > status.json`,
		Args: args(2, 2, "ENDPOINT JOB_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			ep, id := a[0], a[1]
			ctx, cancel := withTimeout(cmd.Context(), timeout)
			defer cancel()
			var clientOpts []client.Option
			var last *client.JobStatus
			var live *liveLine
			if isTerminal(s.err) {
				live = startLive(s.err, id)
				clientOpts = append(clientOpts, client.WithLongPoll(liveLongPoll))
			}
			st, err := c.client(clientOpts...).Endpoint(ep).Wait(ctx, id, client.OnUpdate(func(st *client.JobStatus) {
				last = st
				if live != nil {
					live.update(st)
				}
			}))
			if live != nil {
				live.finish()
			}
			if err != nil {
				return c.waitError(cmd.Context(), err, ep, id, last, timeout)
			}
			return printResult(s, &c, st)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up waiting after this long (exit 4; the job goes on), e.g. 5m")
	addConnFlags(cmd, &c)
	return cmd
}

func statusCmd(s streams) *cobra.Command {
	var c conn
	cmd := &cobra.Command{
		Use:   "status ENDPOINT JOB_ID",
		Short: "Show a job's status",
		Long: "Show the status of job JOB_ID of ENDPOINT (GET /v2/ENDPOINT/status/JOB_ID): state,\n" +
			"time queued, time running, worker, output or latest progress update, error.\n\n" +
			"Exit code 0 means the job COMPLETED; 3 that it FAILED, was CANCELLED or TIMED_OUT;\n" +
			"4 that it is still IN_QUEUE or IN_PROGRESS; 1 that the request failed (an unknown\n" +
			"or expired job is \"not found\").",
		Example: `  sluice status echo 6c2f0e1a-4b1e-4a57-9d0c-0d1b6f3f6a2e
  sluice status echo "$JOB" --json | jq -r .status`,
		Args: args(2, 2, "ENDPOINT JOB_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			st, err := c.client().Endpoint(a[0]).Status(cmd.Context(), a[1])
			if err != nil {
				return c.explain(err)
			}
			if c.json {
				err = writeJSON(s.out, st.Raw, false)
			} else {
				err = writeStatus(s.out, st)
			}
			if err != nil {
				return err
			}
			switch {
			case st.Status == client.StatusCompleted:
				return nil
			case st.Status.Terminal():
				return quietCode(exitJobFailed, st.Err())
			}
			return quietCode(exitJobPending, st.Err())
		},
	}
	addConnFlags(cmd, &c)
	return cmd
}

func streamCmd(s streams) *cobra.Command {
	var c conn
	var text bool
	cmd := &cobra.Command{
		Use:   "stream ENDPOINT JOB_ID",
		Short: "Print a streaming job's chunks as they arrive",
		Long: "Print the chunks a streaming (generator) handler yields for job JOB_ID of ENDPOINT,\n" +
			"as they arrive, one compact JSON value per line, until the job is finished and\n" +
			"every chunk has been read (polling GET /v2/ENDPOINT/stream/JOB_ID). Reading a\n" +
			"stream drains it on the server: each chunk goes to one reader once.\n\n" +
			"With --text, chunks that are JSON strings are written as plain text with no\n" +
			"newline added (for token streams); other chunks are still JSON lines. --json\n" +
			"keeps every chunk a JSON line, whatever --text says.\n\n" +
			"Exit code 0 means the job COMPLETED; 3 that it FAILED, was CANCELLED or TIMED_OUT\n" +
			"(the error is printed on stderr).",
		Example: `  JOB=$(sluice run llm '{"prompt": "Tell me a story", "stream": true}')
  sluice stream llm "$JOB" --text`,
		Args: args(2, 2, "ENDPOINT JOB_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			ep := c.client().Endpoint(a[0])
			id := a[1]
			for chunk, err := range ep.Stream(cmd.Context(), id) {
				if err != nil {
					if cmd.Context().Err() != nil {
						return withCode(exitInterrupted, fmt.Errorf("stream job %s: interrupted; the job goes on", id))
					}
					return c.explain(err)
				}
				if err := writeChunk(s, chunk, text && !c.json); err != nil {
					return err
				}
			}
			st, err := ep.Status(cmd.Context(), id)
			if err != nil {
				return c.explain(err)
			}
			if err := st.Err(); err != nil {
				return withCode(exitJobFailed, err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&text, "text", false, "write string chunks as plain text, without quotes or newlines")
	addConnFlags(cmd, &c)
	return cmd
}

// writeChunk prints one stream chunk.
func writeChunk(s streams, chunk json.RawMessage, text bool) error {
	if text {
		var str string
		if json.Unmarshal(chunk, &str) == nil {
			_, err := fmt.Fprint(s.out, str)
			return err
		}
	}
	return writeJSON(s.out, chunk, false)
}

func cancelCmd(s streams) *cobra.Command {
	var c conn
	cmd := &cobra.Command{
		Use:   "cancel ENDPOINT JOB_ID",
		Short: "Cancel a queued or running job",
		Long: "Cancel job JOB_ID of ENDPOINT (POST /v2/ENDPOINT/cancel/JOB_ID). A queued job is\n" +
			"dropped; a running job's worker is told to stop it. Prints the job's new status.",
		Example: `  sluice cancel echo 6c2f0e1a-4b1e-4a57-9d0c-0d1b6f3f6a2e`,
		Args:    args(2, 2, "ENDPOINT JOB_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			st, err := c.client().Endpoint(a[0]).Cancel(cmd.Context(), a[1])
			if err != nil {
				return c.explain(err)
			}
			if c.json {
				return writeJSON(s.out, st.Raw, false)
			}
			_, err = fmt.Fprintf(s.out, "%s %s\n", st.ID, st.Status)
			return err
		},
	}
	addConnFlags(cmd, &c)
	return cmd
}

func retryCmd(s streams) *cobra.Command {
	var c conn
	cmd := &cobra.Command{
		Use:   "retry ENDPOINT JOB_ID",
		Short: "Queue a FAILED or TIMED_OUT job again",
		Long: "Put job JOB_ID of ENDPOINT back in the queue (POST /v2/ENDPOINT/retry/JOB_ID), with\n" +
			"the same id and input. Only FAILED and TIMED_OUT jobs that have not expired can be\n" +
			"retried. Prints the job id; exit code 0 means the retry was accepted.",
		Example: `  sluice retry echo "$JOB" && sluice wait echo "$JOB"`,
		Args:    args(2, 2, "ENDPOINT JOB_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			st, err := c.client().Endpoint(a[0]).Retry(cmd.Context(), a[1])
			return c.printAccepted(s, st, err)
		},
	}
	addConnFlags(cmd, &c)
	return cmd
}

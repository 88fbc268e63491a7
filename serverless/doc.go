// Package serverless writes serverless workers in Go: a handler function
// plus Start, speaking Runpod Serverless's worker protocol, so the same
// binary runs on Runpod and on Sluice. It uses the standard library only.
//
// The smallest worker:
//
//	func main() {
//		serverless.Start(serverless.Config{
//			Handler: func(ctx context.Context, job *serverless.Job) (any, error) {
//				var in struct{ Name string `json:"name"` }
//				if err := job.Decode(&in); err != nil {
//					return nil, err
//				}
//				return map[string]any{"greeting": "hello " + in.Name}, nil
//			},
//		})
//	}
//
// # Handlers
//
// A HandlerFunc returns the job's output; a StreamFunc yields output chunks
// that clients read from /stream (set Config.ReturnAggregateStream to also
// make the list of chunks the final output); Typed adapts a function on Go
// types. A returned error or a panic fails the job with runpod-python's
// error object; returning a map with an "error" key fails it with exactly
// that error; a "refresh_worker": true key asks the platform for a fresh
// worker after the job. ProgressUpdate reports progress that shows in
// /status while the job runs. Config.ConcurrencyModifier lets one worker
// run several jobs at once.
//
// # Modes
//
// Start picks its mode from the command line and environment, like
// runpod-python, and accepts the same flags:
//
//   - go run . --test_input '{"input": {...}}' runs one job, from the flag
//     or from ./test_input.json, and prints its result alone on stdout, one
//     JSON line {"id", "status", "executionTime", "output" | "error"} (so
//     `./worker --test_input ... | jq .status` works). The banner, the log
//     and JSON lines in the shape Runpod's API answers with, one /stream-like
//     line per streamed chunk and one /status-like line per progress update,
//     go to stderr. It exits 0 when the job completed and 1 when it failed or
//     the input is missing or bad.
//   - go run . --rp_serve_api [--rp_api_host localhost] [--rp_api_port 8000]
//     [--rp_api_concurrency 1] serves a local endpoint with Runpod's job API:
//     POST /run (answers IN_QUEUE at once, runs the job in the background),
//     POST /runsync[?wait=ms], GET /status/{id}, GET /stream/{id} (each
//     chunk once, in order), POST /cancel/{id} (cancels the job's context),
//     POST /retry/{id}, POST /purge-queue and GET /health, both at the root and under
//     /v2/{endpoint_id}/, so curl and runpod.Endpoint (with
//     RUNPOD_ENDPOINT_BASE_URL=http://localhost:8000/v2) work unchanged.
//     Any API key is accepted. A request's "webhook" receives the /status
//     body when the job ends. --rp_api_concurrency jobs run at once.
//   - With RUNPOD_WEBHOOK_GET_JOB set (as on Runpod or Sluice), the worker
//     loop takes jobs from the platform and posts results, stream chunks
//     and progress back, until SIGTERM. Then it takes no new job, lets the
//     running ones finish, posts their results and exits 0; a second signal
//     cancels the running jobs' ctx, a third exits at once.
//
// # Environment
//
// The worker reads runpod-python's variables: RUNPOD_WEBHOOK_GET_JOB,
// RUNPOD_WEBHOOK_POST_OUTPUT, RUNPOD_WEBHOOK_POST_STREAM, RUNPOD_WEBHOOK_PING,
// RUNPOD_PING_INTERVAL, RUNPOD_AI_API_KEY, RUNPOD_POD_ID,
// RUNPOD_POD_HOSTNAME, RUNPOD_ENDPOINT_ID (JSON log lines) and
// RUNPOD_LOG_LEVEL (or --rp_log_level).
//
// # Testing handlers
//
// The serverlesstest package runs one job through the production execution
// path without any network (serverlesstest.Run, serverlesstest.Exec):
//
//	res := serverlesstest.Run(t, serverless.Config{Handler: h}, map[string]any{"name": "Ada"})
//	res.RequireCompleted(t)
package serverless

// Package client is a Go client for Runpod's queue-based endpoint API (the
// "/v2" API), served by Sluice and by Runpod's hosted platform alike.
//
// Create a [Client] with the server's base URL and an API key, pick an
// [Endpoint], and submit jobs:
//
//	c := client.New("http://127.0.0.1:8080", os.Getenv("SLUICE_API_KEY"))
//	ep := c.Endpoint("echo")
//	job, err := ep.Run(ctx, map[string]any{"prompt": "hello"})
//	...
//	st, err := ep.Wait(ctx, job.ID)
//	var out MyOutput
//	err = st.Decode(&out)
//
// An empty base URL means Runpod's hosted API, [DefaultBaseURL]. Every call
// sends "Authorization: Bearer <key>" and uses the paths /v2/{endpoint}/run,
// /runsync, /status/{id}, /status-sync/{id}, /stream/{id}, /cancel/{id},
// /retry/{id}, /health and /purge-queue.
//
// Sluice's own additions (a Runpod endpoint answers them 404) are
// [Client.Endpoints], [Endpoint.Workers], [Endpoint.Logs] and the job
// listing: [Endpoint.ListJobs], [Endpoint.Job] and [Endpoint.JobInput].
//
// # Errors
//
// A response with an error status becomes an [*APIError]. The sentinels
// [ErrUnauthorized] (401, 403), [ErrNotFound] (404, 410), [ErrTooLarge] (413)
// and [ErrRateLimited] (429) match it with errors.Is. A job that ended
// without completing is not an error of the call: check [JobStatus.Err].
//
// # Retries
//
// GET calls (status, status-sync, stream, health and the Sluice extensions)
// are retried with exponential back-off on 429, 5xx and connection errors;
// Retry-After is honoured. POST calls (/run, /runsync, /cancel, /retry,
// /purge-queue) are sent once, since the server may have acted on a request
// whose answer was lost.
//
// # Waiting and streaming
//
// [Endpoint.Wait] long-polls /status-sync (falling back to /status polling
// with back-off on servers without it) until the job is terminal or the
// context ends. [Endpoint.Stream] returns an iterator over the chunks a
// streaming handler yields, polling /stream until the job is terminal and
// its stream drained.
//
// The package uses the standard library only.
package client

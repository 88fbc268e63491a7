// Package lbproxy serves Sluice's load-balancing endpoints (type LB): a
// request to /lb/{endpoint}/{path} goes to one of the endpoint's workers,
// each an HTTP server of its own (FastAPI, Flask, net/http, ...) that the
// supervisor started with PORT and PORT_HEALTH on 127.0.0.1, as Runpod's
// load balancer does. docs/spec/load-balancing.md is the contract.
//
// A Pool keeps, per endpoint, the workers the supervisor started
// (WorkerStarted) and polls each one's GET /ping on PORT_HEALTH: 204 means
// initializing, 200 puts it in rotation, anything else (or no answer) takes
// it out. A request goes to the ready worker with the fewest requests in
// flight; bodies stream both ways (SSE and chunked responses are flushed as
// bytes arrive; Upgrade requests such as WebSockets are relayed). With no
// ready worker a request waits, and wakes the scaler, up to the endpoint's
// coldStartTimeoutSeconds, then gets a 503 with Retry-After. A worker that
// fails mid-request gets that request a 502 and is taken out of rotation
// until its /ping answers 200 again; a request running past
// requestTimeoutSeconds gets a 504. Every error body is JSON:
// {"error": "..."} naming the cause.
//
// The Pool is also the supervisor's view of these endpoints
// (scaler.LBPool): requests waiting for a worker count as queued, requests
// in flight as in progress, so scalerType REQUEST_COUNT scales on requests
// per worker and idle workers stop after idleTimeout, down to zero.
package lbproxy

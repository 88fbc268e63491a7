// Package scaler runs an endpoint's worker processes: it starts them with the
// RUNPOD_* environment pointing at Sluice's worker API, scales them between
// workersMin and workersMax by the endpoint's scaler rule, drains them on
// scale-down (a worker holding a job is never stopped), replaces the ones
// that exit or ask to be refreshed, backs off when they keep crashing, gives
// each its own GPUs from the pool, and keeps their output in a logs.Store.
//
// # Wiring into sluice serve
//
//	file, err := config.Load(path)
//	eng, err := engine.Open(ctx, engine.Config{...})
//	sup, err := scaler.New(scaler.Config{
//		BaseURL:      "http://127.0.0.1:8080", // where workers reach the worker API
//		Queue:        eng,                     // *engine.Engine has QueueStats and Workers
//		DataDir:      dataDir,                 // logs go to DataDir/logs
//		WorkerKey:    workerKey,               // used when an endpoint has no workerKey
//		PingInterval: file.PingInterval(),
//	})
//	sup.Update(ctx, file.Endpoints) // before Run: the initial endpoints
//	go sup.Run(runCtx)              // returns after every worker has stopped
//	mux.Handle("GET /v2/{endpoint}/logs", requireClientKey(sup.LogHandler()))
//
// The API layer tells the supervisor two things, most simply by wrapping the
// engine it hands to api.New:
//
//	func (e hooked) Submit(ctx context.Context, ep string, r engine.SubmitRequest) (*engine.Job, error) {
//		j, err := e.Engine.Submit(ctx, ep, r)
//		if err == nil {
//			e.sup.Notify(ep) // cold start in milliseconds, not at the next tick
//		}
//		return j, err
//	}
//	func (e hooked) Finish(ctx context.Context, ep, worker, job string, r engine.Result) error {
//		err := e.Engine.Finish(ctx, ep, worker, job, r)
//		if r.StopPod {
//			e.sup.Refresh(worker) // replace the worker once it holds no job
//		}
//		return err
//	}
//
// /health merges the supervisor's worker figures: Counts(endpoint) returns
// engine.WorkerCounts for endpoints whose workers Sluice runs (Managed). On
// shutdown, cancel Run's context first and keep the worker API serving until
// Run returns, so draining workers can still post their results.
//
// runpod-python exits on SIGTERM only after its in-flight job-take and
// job-stop long polls return, so keep Config.StopGrace (default 45 s) above
// the worker API's take and stop hold times (30 s by default), or have the
// Queue implement WorkerLifecycle and end a draining worker's polls at once.
//
// # Worker states
//
// As Runpod names them: INITIALIZING (started, not yet seen by the engine:
// it has neither taken a job nor pinged), IDLE (seen, holds no job), RUNNING
// (holds a job), UNHEALTHY (crashed and waiting to be restarted, or stopped
// pinging while its process lives), THROTTLED (wanted but waiting for free
// GPUs; counted, not listed). Ready counts the IDLE workers.
//
// # Scaling
//
// See target for the rules. Low-priority jobs never add workers, as on
// Runpod, not even from zero: they run on workers that workersMin or normal
// jobs keep live. Workers above workersMin stop after idleTimeout seconds
// without a job once the rule allows fewer workers; workers above workersMax
// (after a reload) stop as soon as they are idle.
//
// Stopping a worker: SIGTERM to the worker process (not its helpers, as
// `docker stop` does; a wrapper script should exec the worker) once the
// engine reports it holds no job; runpod-python and the Go SDK then finish
// in-flight work and exit. SIGKILL to its whole process group only if it is
// still alive StopGrace later and still holds no job. A worker that holds a
// job is never killed to scale down. On shutdown too, busy workers get
// SIGTERM only once their jobs are done (the Go SDK cancels running jobs on
// SIGTERM), until ShutdownGrace. When a worker exits, whatever is left in
// its process group is killed, so no orphan keeps taking jobs or GPUs.
//
// # Image workers
//
// An endpoint with an image runs each worker as one container: the worker
// process is the runtime's `run` command in the foreground, so all of the
// above holds for it (container.go says how; set Config.ServerID so that
// a restarted server removes the containers a killed one left). An image
// pull happens inside that command and counts towards InitTimeout.
package scaler

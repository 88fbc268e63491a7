// Package engine is Sluice's job engine: durable queues and job records on
// NATS JetStream, embedded in the process or on an external cluster.
//
// Only this package changes job state. The client API and the worker API call
// the methods of [Engine]; every state change is a compare-and-set on the
// job's record revision, so concurrent replicas (or a late worker and the
// timeout reaper) cannot both win.
//
// # Storage
//
//   - Job records: stream KV_sluice_jobs (a KV bucket in layout; direct get
//     only with a single replica, where no follower can answer), one subject
//     per job ($KV.sluice_jobs.<endpoint>.<id>), one message per subject. The
//     message sequence is the revision; writes carry
//     Nats-Expected-Last-Subject-Sequence (compare-and-set) and a per-message
//     TTL (Nats-TTL) equal to the time left until the record must disappear:
//     the job's ttl while it is live, its retention once terminal. The server
//     deletes expired records; nothing grows with history.
//   - Queue: work-queue stream sluice_queue, one subject per endpoint and
//     priority, sluice.q.<endpoint>.<n|l>, each entry's data "<id> <epoch>",
//     with two durable pull consumers per endpoint (normal and low priority),
//     each filtered on its one literal subject and shared by every replica:
//     the server finds the next entry without looking at the rest, so a take
//     costs the same whatever the backlog (queue.go). An entry is valid only
//     while its job is IN_QUEUE in that epoch, so stale entries (cancelled,
//     retried, duplicated) are dropped when taken. Entries carry the job's
//     ttl as their own. (Engines before this layout used a subject per job,
//     sluice.q.<endpoint>.<n|l>.<id>; Open moves such entries.)
//   - Purge marks ($KV.sluice_jobs.=purge.<endpoint>, purge.go): a purge
//     removes the endpoint's queue subjects in one request each and stores a
//     mark; a record still IN_QUEUE below the mark's sequence reads as
//     CANCELLED. So a purge of a million jobs is five requests.
//   - Idempotency keys ($KV.sluice_jobs.=idem.<endpoint>.<sha256 of key>,
//     idempotency.go): the job id and request hash of a keyed submit,
//     created with expected last subject sequence 0 so one of two racing
//     replicas wins, and kept for the job's ttl plus retention.
//   - Large values (inputs, outputs, progress and stream chunks over 64 KiB)
//     are split into 512 KiB parts in stream sluice_blobs, each with a TTL, so
//     10-20 MB payloads work on a cluster with NATS's default 1 MB max_payload.
//   - Stream chunks: stream sluice_chunks, subject sluice.chunk.<endpoint>.<id>,
//     read by sequence; the read cursor lives in the job record, so each chunk
//     is returned once whichever replica serves the read.
//   - Leases ($KV.sluice_jobs.=lease.<endpoint>.<id>, in the jobs stream):
//     the index of jobs that may be IN_PROGRESS, which the reaper walks. A
//     take sends the lease and the IN_PROGRESS record together, lease first;
//     one stream stores them in that order, so a stored IN_PROGRESS record
//     always has its lease (a crash cannot split them). The lease is removed
//     after the job leaves IN_PROGRESS and expires with the job's ttl.
//     (Engines before this layout kept leases in bucket sluice_leases; Open
//     moves them.)
//   - Workers (bucket sluice_workers, <endpoint>.<worker>): last ping or take.
//   - Stop signals: stream sluice_stops, sluice.stop.<endpoint>.<worker>; the
//     replica that deletes a signal delivers it, so each is delivered once.
//   - Counters for /health: stream sluice_events with max age = Retention.
//   - Job listing (listing.go, index.go): an in-memory index per endpoint and
//     status, in submission order, read in batches from the jobs stream
//     (records and purge marks); attempts are kept in the record
//     (attempts.go); webhook delivery states at
//     $KV.sluice_jobs.=hook.<endpoint>.<id> (deliverystate.go).
//   - Webhook deliveries: work-queue stream sluice_hooks,
//     sluice.hook.<endpoint>.<id>, stored at the terminal transition and
//     handed by every replica from one shared consumer (Deliveries,
//     webhook.go) to internal/webhook, which sends them; a webhook outlives
//     the replica that made the transition.
//
// An engine remembers the records it stored for queued and running jobs, the
// queue entries and leases it wrote (memory.go, bounded in count and bytes), so a take, a result or a lease removal skips a
// read; these are hints only: the compare-and-set fails on a stale one.
//
// # Waking waiters
//
// Long polls (Take, Wait, ReadStream, StopSignals) wait for core NATS
// subjects under sluice.n. that are published after a change is stored, so a
// waiter on any replica wakes within milliseconds; a slow periodic re-check
// covers a lost nudge. Each engine subscribes once (queue, job and stop
// nudges) and hands the nudges to its waiters. An engine wakes its own
// waiters in process (its connection does not echo its nudges), and the
// embedded server, which no other replica can reach, gets no nudges at all.
//
// # Hand-off
//
// A job submitted while a worker's Take is parked on the same engine is
// stored IN_PROGRESS for that worker, with its lease, and given to the Take
// directly (handoff.go): no queue entry, no fetch. Takes parked on other
// replicas get jobs through the queue.
//
// # Time-based transitions
//
// Every engine runs a reaper (Config.ReaperInterval) over the leases:
// execution timeouts (TIMED_OUT and a stop signal) and lost workers (no ping
// or take for WorkerLostAfter: back to IN_QUEUE with Retries+1, or FAILED
// "worker lost" after MaxRetries). Each is a compare-and-set, so several
// replicas' reapers never apply one twice. A worker is never lost sooner than
// WorkerLostAfter after its engine started or after JetStream last failed to
// answer the reaper, however long the engine (or the cluster) was down: its
// pings could not be stored meanwhile, and a result it computed then is
// accepted. Ttl and retention expiry are done
// by the server (per-message TTLs).
//
// # Durability
//
// Submit returns only after the record and then the queue entry (or, handed
// off, the record and the lease) are stored (acknowledged by JetStream; on a
// cluster by a quorum of replicas).
// Embedded, the server fsyncs on an interval (data survives a kill -9 of the
// process) or, with Config.StrictSync, on every write.
//
// # Files
//
// engine.go opens the streams; submit.go and handoff.go store new jobs,
// idempotency.go the keys of idempotent submits;
// take.go and queue.go are the queue and its takes; purge.go; jobs.go holds
// reads and client changes (Get, Wait, Cancel, Retry, SetTTL); result.go the
// worker's results (Finish, Progress); stream.go stream chunks; workers.go
// worker liveness and stop signals; lease.go and reaper.go the time-based
// transitions; store.go records, blobs and the compare-and-set; memory.go and
// nudge.go what keeps the per-job path short; stats.go /health figures;
// limits.go backpressure (maxQueue, maxStorage) and which errors mean full
// or unavailable; webhook.go webhook deliveries.
package engine

package engine

// Observer hears about what this engine does, for metrics. Its methods are
// called synchronously on the engine's paths, so they must be quick and
// must not call back into the engine. Each engine reports only what it did
// itself: with several replicas, sum the figures over them.
type Observer interface {
	// JobFinished is called once this engine has stored a terminal
	// transition of j (COMPLETED, FAILED, CANCELLED or TIMED_OUT). j must
	// not be kept or modified.
	JobFinished(j *Job)
	// QueuedEnded is called once this engine has ended n queued jobs of
	// endpoint in one step (purge-queue: CANCELLED; FailQueued: FAILED);
	// JobFinished is not called for them.
	QueuedEnded(endpoint string, status Status, n int)
}

// observer returns cfg.Observer, or nil.
func (e *Engine) observer() Observer { return e.cfg.Observer }

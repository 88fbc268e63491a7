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
	// WebhookDelivered is called after each webhook POST this engine tried,
	// or a delivery it dropped, with one of the WebhookResult values.
	WebhookDelivered(endpoint string, result WebhookResult)
}

// WebhookResult is the outcome of one webhook delivery attempt.
type WebhookResult string

// Outcomes of a webhook delivery attempt.
const (
	WebhookDelivered WebhookResult = "delivered" // a 2xx answer
	WebhookRetrying  WebhookResult = "retrying"  // failed; it is tried again later
	WebhookFailed    WebhookResult = "failed"    // failed on its last try: given up
	WebhookDropped   WebhookResult = "dropped"   // could not be sent at all (its body could not be built)
)

// observer returns cfg.Observer, or nil.
func (e *Engine) observer() Observer { return e.cfg.Observer }

package scaler

import (
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/engine"
)

// fleet is what the scaling rule needs to know about an endpoint's workers.
type fleet struct {
	live         int           // workers not draining, including initializing ones
	initializing int           // live workers not yet seen taking or pinging
	sinceStart   time.Duration // since the last worker start; large if none
}

// target returns how many live workers an endpoint should have.
//
// QUEUE_DELAY: one worker at once when jobs wait and none is live (cold
// start); one more when the oldest normal-priority job has waited longer than
// scalerValue seconds, unless a worker is still initializing and the last one
// started less than scalerValue seconds ago; otherwise no change while jobs
// wait, and down to workersMin once the queue is empty.
//
// REQUEST_COUNT: ceil((normal queued + in progress) / scalerValue).
//
// Low-priority jobs never trigger a scale-up, as on Runpod: they keep the
// live workers busy but never add one, not even from zero (they run when
// workersMin > 0 or normal jobs have brought workers up). While normal jobs
// wait the target is at least one. The result is clamped to [workersMin,
// workersMax].
// A target below live only allows stopping workers that are idle (see
// Supervisor); busy workers are never stopped to reach it.
func target(ep *config.Endpoint, st engine.QueueStats, f fleet) int {
	waiting := st.Queued + st.QueuedLow
	var t int
	switch ep.ScalerType {
	case config.ScalerRequestCount:
		v := max(ep.ScalerValue, 1)
		t = (st.Queued + st.InProgress + v - 1) / v
	default: // QUEUE_DELAY
		delay := time.Duration(ep.ScalerValue) * time.Second
		switch {
		case waiting == 0:
			t = 0
		case st.Queued > 0 && st.OldestQueuedAge > delay && (f.initializing == 0 || f.sinceStart >= delay):
			t = f.live + 1
		default:
			t = f.live
		}
	}
	if st.Queued > 0 && t < 1 {
		t = 1
	}
	return min(max(t, ep.WorkersMin), ep.WorkersMax)
}

// backoff is the wait before starting a worker after streak consecutive crashes.
func backoff(streak int, base, limit time.Duration) time.Duration {
	if streak <= 0 {
		return 0
	}
	d := base
	for i := 1; i < streak && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

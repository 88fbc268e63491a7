package scaler

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/engine"
)

func TestTarget(t *testing.T) {
	qd := config.Endpoint{ScalerType: config.ScalerQueueDelay, ScalerValue: 4, WorkersMin: 0, WorkersMax: 3}
	qdMin := qd
	qdMin.WorkersMin = 1
	rc := config.Endpoint{ScalerType: config.ScalerRequestCount, ScalerValue: 2, WorkersMin: 0, WorkersMax: 5}
	off := rc
	off.WorkersMax = 0
	long := time.Hour
	tests := []struct {
		name string
		ep   config.Endpoint
		st   engine.QueueStats
		f    fleet
		want int
	}{
		{"qd idle stays at zero", qd, engine.QueueStats{}, fleet{sinceStart: long}, 0},
		{"qd cold start on first job", qd, engine.QueueStats{Queued: 1}, fleet{sinceStart: long}, 1},
		{"qd no change while delay not exceeded", qd, engine.QueueStats{Queued: 9, OldestQueuedAge: 3 * time.Second}, fleet{live: 1, sinceStart: long}, 1},
		{"qd adds one past the delay", qd, engine.QueueStats{Queued: 9, OldestQueuedAge: 5 * time.Second}, fleet{live: 1, sinceStart: long}, 2},
		{"qd waits for an initializing worker", qd, engine.QueueStats{Queued: 9, OldestQueuedAge: 5 * time.Second}, fleet{live: 2, initializing: 1, sinceStart: time.Second}, 2},
		{"qd adds anyway after another delay", qd, engine.QueueStats{Queued: 9, OldestQueuedAge: 9 * time.Second}, fleet{live: 2, initializing: 1, sinceStart: 5 * time.Second}, 3},
		{"qd capped at max", qd, engine.QueueStats{Queued: 9, OldestQueuedAge: time.Minute}, fleet{live: 3, sinceStart: long}, 3},
		{"qd down to zero when empty", qd, engine.QueueStats{InProgress: 2}, fleet{live: 3, sinceStart: long}, 0},
		{"qd down to min when empty", qdMin, engine.QueueStats{}, fleet{live: 3, sinceStart: long}, 1},
		{"qd min when nothing", qdMin, engine.QueueStats{}, fleet{sinceStart: long}, 1},
		{"qd low priority never adds", qd, engine.QueueStats{QueuedLow: 50}, fleet{live: 1, sinceStart: long}, 1},
		{"qd low priority only: no worker from zero", qd, engine.QueueStats{QueuedLow: 50}, fleet{sinceStart: long}, 0},
		{"qd old low-priority jobs do not add", qd, engine.QueueStats{QueuedLow: 5, OldestQueuedAge: 0}, fleet{live: 1, sinceStart: long}, 1},
		{"rc ceil", rc, engine.QueueStats{Queued: 3}, fleet{sinceStart: long}, 2},
		{"rc counts in progress", rc, engine.QueueStats{Queued: 3, InProgress: 2}, fleet{live: 2, sinceStart: long}, 3},
		{"rc capped", rc, engine.QueueStats{Queued: 100}, fleet{sinceStart: long}, 5},
		{"rc shrinks", rc, engine.QueueStats{InProgress: 1}, fleet{live: 5, sinceStart: long}, 1},
		{"rc zero", rc, engine.QueueStats{}, fleet{live: 5, sinceStart: long}, 0},
		{"rc ignores low priority", rc, engine.QueueStats{Queued: 2, QueuedLow: 40}, fleet{live: 1, sinceStart: long}, 1},
		{"rc low priority only: no worker from zero", rc, engine.QueueStats{QueuedLow: 40}, fleet{sinceStart: long}, 0},
		{"max zero wins", off, engine.QueueStats{Queued: 10}, fleet{sinceStart: long}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := target(&tt.ep, tt.st, tt.f); got != tt.want {
				t.Errorf("target = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	base, limit := 100*time.Millisecond, time.Second
	want := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}
	for streak, w := range want {
		if got := backoff(streak, base, limit); got != w {
			t.Errorf("backoff(%d) = %v, want %v", streak, got, w)
		}
	}
	if got := backoff(1000, base, limit); got != limit {
		t.Errorf("backoff(1000) = %v", got)
	}
}

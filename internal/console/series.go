package console

import (
	"math"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

// Window is how far back the console's charts go: one point per minute.
const Window = 60

// Histogram buckets: bucket i holds durations d (ms) with
// floor(log2(d+1) × bucketsPerOctave) = i, so a percentile read from them is
// within about 4.5 % of the true value. 256 buckets reach about 49 days.
const (
	bucketsPerOctave = 8
	nBuckets         = 256
)

// Series keeps, per endpoint and minute of the last hour, how many jobs
// ended and histograms of their queue delay and execution time: the
// console's charts. It is an engine.Observer (its methods are quick and
// take one lock); a replica counts the jobs it ended itself.
type Series struct {
	now func() time.Time
	mu  sync.Mutex
	eps map[string]*[Window]minute // by endpoint; slot = unix minute % Window
}

var _ engine.Observer = (*Series)(nil)

type minute struct {
	at                          int64 // unix minute this slot holds; 0: empty
	completed, failed, canceled int
	delay, exec                 hist
}

type hist struct {
	n int
	b [nBuckets]uint32
}

// NewSeries returns an empty Series reading the time from now (time.Now
// when nil).
func NewSeries(now func() time.Time) *Series {
	if now == nil {
		now = time.Now
	}
	return &Series{now: now, eps: map[string]*[Window]minute{}}
}

// slot is endpoint's minute m, emptied first when it still holds an older
// minute. The caller holds s.mu.
func (s *Series) slot(endpoint string, m int64) *minute {
	ring := s.eps[endpoint]
	if ring == nil {
		ring = new([Window]minute)
		s.eps[endpoint] = ring
	}
	sl := &ring[m%Window]
	if sl.at != m {
		*sl = minute{at: m}
	}
	return sl
}

// JobFinished counts j's end at the minute it is reported.
func (s *Series) JobFinished(j *engine.Job) {
	m := s.now().Unix() / 60
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.slot(j.Endpoint, m)
	switch j.Status {
	case engine.StatusCompleted:
		sl.completed++
	case engine.StatusCancelled:
		sl.canceled++
	default:
		sl.failed++
	}
	if !j.StartedAt.IsZero() {
		sl.delay.add(j.StartedAt.Sub(j.CreatedAt))
		if !j.FinishedAt.IsZero() {
			sl.exec.add(j.FinishedAt.Sub(j.StartedAt))
		}
	}
}

// QueuedEnded counts n queued jobs of endpoint ended at once (never started).
func (s *Series) QueuedEnded(endpoint string, status engine.Status, n int) {
	m := s.now().Unix() / 60
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.slot(endpoint, m)
	if status == engine.StatusCancelled {
		sl.canceled += n
	} else {
		sl.failed += n
	}
}

func (h *hist) add(d time.Duration) {
	ms := max(d.Milliseconds(), 0)
	i := int(math.Log2(float64(ms)+1) * bucketsPerOctave)
	h.b[min(i, nBuckets-1)]++
	h.n++
}

// quantile is the q-quantile (0..1) in ms, or nil without samples: the
// geometric middle of the bucket it falls in.
func (h *hist) quantile(q float64) *float64 {
	if h.n == 0 {
		return nil
	}
	rank := uint32(math.Ceil(q * float64(h.n)))
	var seen uint32
	for i, c := range h.b {
		seen += c
		if seen >= max(rank, 1) {
			v := math.Round(math.Exp2((float64(i)+0.5)/bucketsPerOctave) - 1)
			return &v
		}
	}
	return nil
}

// Chart is the console's view of one endpoint over the last hour: one
// value per minute, oldest first; nil percentiles are minutes without jobs.
type Chart struct {
	Completed []int      `json:"completed"`
	Failed    []int      `json:"failed"`
	Cancelled []int      `json:"cancelled"`
	DelayP50  []*float64 `json:"delayP50"`
	DelayP95  []*float64 `json:"delayP95"`
	ExecP50   []*float64 `json:"execP50"`
	ExecP95   []*float64 `json:"execP95"`
}

// Charts is the body of the console's series: the minutes (unix ms of
// each minute's start, oldest first) and a Chart per endpoint.
type Charts struct {
	Minutes   []int64          `json:"minutes"`
	Endpoints map[string]Chart `json:"endpoints"`
}

// Snapshot is the last hour of each of endpoints (endpoints without data
// get zeros).
func (s *Series) Snapshot(endpoints []string) Charts {
	last := s.now().Unix() / 60
	out := Charts{Minutes: make([]int64, Window), Endpoints: make(map[string]Chart, len(endpoints))}
	for i := range Window {
		out.Minutes[i] = (last - Window + 1 + int64(i)) * 60_000
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ep := range endpoints {
		c := Chart{
			Completed: make([]int, Window), Failed: make([]int, Window), Cancelled: make([]int, Window),
			DelayP50: make([]*float64, Window), DelayP95: make([]*float64, Window),
			ExecP50: make([]*float64, Window), ExecP95: make([]*float64, Window),
		}
		if ring := s.eps[ep]; ring != nil {
			for i := range Window {
				m := last - Window + 1 + int64(i)
				sl := &ring[m%Window]
				if sl.at != m {
					continue
				}
				c.Completed[i], c.Failed[i], c.Cancelled[i] = sl.completed, sl.failed, sl.canceled
				c.DelayP50[i], c.DelayP95[i] = sl.delay.quantile(0.5), sl.delay.quantile(0.95)
				c.ExecP50[i], c.ExecP95[i] = sl.exec.quantile(0.5), sl.exec.quantile(0.95)
			}
		}
		out.Endpoints[ep] = c
	}
	return out
}

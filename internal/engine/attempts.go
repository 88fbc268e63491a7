package engine

// Attempts: each try of a job (worker, start, end, outcome). A record keeps
// its past tries (Attempts, written by the transitions that end a try and
// start another: a lost worker's requeue and /retry); the current try is
// read from the record's own fields (WorkerID, StartedAt, FinishedAt,
// Status), so a job run once stores nothing more than before.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/internal/wire"
)

// Outcomes of an attempt besides the terminal states.
const (
	OutcomeRunning    = wire.OutcomeRunning    // the try is going on
	OutcomeWorkerLost = wire.OutcomeWorkerLost // its worker stopped pinging or exited
)

// Attempt is one try of a job.
type Attempt struct {
	Attempt    int       `json:"attempt"`
	WorkerID   string    `json:"workerId,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// Outcome is COMPLETED, FAILED, TIMED_OUT, CANCELLED, WORKER_LOST or RUNNING.
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"` // summary (wire.ErrorSummary)
}

// closeAttempt records r's current try as past with outcome (before a
// transition clears it). A try already recorded is not recorded twice.
func closeAttempt(r *record, outcome, errMsg string, now time.Time) {
	if r.StartedAt.IsZero() {
		return // never taken since the last try
	}
	if n := len(r.Attempts); n > 0 && r.Attempts[n-1].StartedAt.Equal(r.StartedAt) {
		return
	}
	if errMsg == "" {
		errMsg, _ = wire.ErrorText(r.Error)
	}
	end := r.FinishedAt
	if end.IsZero() {
		end = now
	}
	r.Attempts = append(r.Attempts, Attempt{Attempt: nextAttempt(r.Attempts), WorkerID: r.WorkerID,
		StartedAt: r.StartedAt, FinishedAt: end, Outcome: outcome, Error: wire.ErrorSummary(errMsg)})
	if n := len(r.Attempts); n > maxAttempts {
		r.Attempts = slices.Delete(r.Attempts, 0, n-maxAttempts) // a record stays small however often it is retried
	}
}

// maxAttempts is how many past tries a record keeps (the latest).
const maxAttempts = 32

// nextAttempt is the number of the try after past.
func nextAttempt(past []Attempt) int {
	if len(past) == 0 {
		return 1
	}
	return past[len(past)-1].Attempt + 1
}

// attempts returns r's tries, the current one last.
func attempts(r *record) []Attempt {
	out := append([]Attempt(nil), r.Attempts...)
	if r.StartedAt.IsZero() {
		return out
	}
	if n := len(out); n > 0 && out[n-1].StartedAt.Equal(r.StartedAt) {
		return out // the current try ended as recorded (a lost worker's last try)
	}
	a := Attempt{Attempt: nextAttempt(out), WorkerID: r.WorkerID, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		Outcome: string(r.Status)}
	if r.Status == StatusInProgress {
		a.Outcome = OutcomeRunning
	}
	msg, _ := wire.ErrorText(r.Error)
	a.Error = wire.ErrorSummary(msg)
	return append(out, a)
}

// JobDetail is a job with everything the detail view shows.
type JobDetail struct {
	Job // Output loaded; Input only when at most 64 KiB
	// InputBytes is the size of the input; InputTruncated is set when it is
	// over 64 KiB, and then InputPreview holds its first 64 KiB.
	InputBytes     int
	InputTruncated bool
	InputPreview   []byte
	Attempts       []Attempt
	StreamChunks   int           // stream chunks stored (read or not)
	Webhook        *WebhookState // nil without a webhook
}

// Detail returns a job with its attempts, stream chunk count and webhook
// delivery state. Unknown and expired jobs are ErrNotFound.
func (e *Engine) Detail(ctx context.Context, endpoint, id string) (*JobDetail, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return nil, err
	}
	r, _, err := e.load(ctx, endpoint, id)
	if err != nil {
		return nil, err
	}
	j, err := e.toJob(ctx, r, false)
	if err != nil {
		return nil, err
	}
	d := &JobDetail{Job: *j, InputBytes: len(r.Input), Attempts: attempts(r)}
	if r.InputRef != nil {
		d.InputBytes, d.InputTruncated = r.InputRef.Size, true
		if d.InputPreview, err = e.blobHead(ctx, r.InputRef, inlineMax); err != nil {
			return nil, fmt.Errorf("job %s input: %w", id, err)
		}
	}
	subj := chunkPrefix + endpoint + "." + id
	info, err := e.chunks.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return nil, fmt.Errorf("job %s stream chunks: %w", id, err)
	}
	d.StreamChunks = int(info.State.Subjects[subj])
	if r.Webhook != "" {
		if d.Webhook, err = e.webhookState(ctx, r); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// blobHead reads the first n bytes of a stored value (its first part).
func (e *Engine) blobHead(ctx context.Context, ref *blobRef, n int) ([]byte, error) {
	m, err := e.blobs.GetMsg(ctx, ref.First, jetstream.WithGetMsgSubject(ref.Subject))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", ref.Subject, err)
	}
	return m.Data[:min(n, len(m.Data))], nil
}

package wire

// Status is a job's state, spelled as Runpod spells it.
type Status string

// Job states (docs/spec/runpod-api.md section 3.1).
const (
	StatusInQueue    Status = "IN_QUEUE"
	StatusInProgress Status = "IN_PROGRESS"
	StatusCompleted  Status = "COMPLETED"
	StatusFailed     Status = "FAILED"
	StatusCancelled  Status = "CANCELLED"
	StatusTimedOut   Status = "TIMED_OUT"
)

// Terminal reports whether s is final: COMPLETED, FAILED, CANCELLED or
// TIMED_OUT. No further transition happens without /retry.
func (s Status) Terminal() bool {
	switch s {
	case StatusCompleted, StatusFailed, StatusCancelled, StatusTimedOut:
		return true
	}
	return false
}

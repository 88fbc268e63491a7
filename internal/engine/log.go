package engine

// Log attribute keys of the engine's log lines.
const (
	attrJob     = "job"
	attrErr     = "err"
	attrSubject = "subject"
)

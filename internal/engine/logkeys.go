package engine

import "github.com/sluicehq/sluice/internal/logkey"

// Log attribute keys (shared with the rest of Sluice).
const (
	attrEndpoint = logkey.Endpoint
	attrJob      = logkey.JobID
	attrWorker   = logkey.WorkerID
	attrErr      = logkey.Err
	attrSubject  = "subject"
)

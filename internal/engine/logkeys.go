package engine

import "github.com/sluicehq/sluice/internal/logkey"

// Log attribute keys (shared with the rest of Sluice).
const (
	attrEndpoint = logkey.Endpoint
	attrJob      = logkey.JobID
	attrWorker   = logkey.WorkerID
	attrErr      = logkey.Err
	attrSubject  = "subject"
	attrConsumer = "consumer"
	attrEntries  = "entries"
	attrKind     = "kind"
	attrLeases   = "leases"
	attrRequeued = "requeued"
	attrURL      = "url"
	attrWhy      = "why"
)

package server

// Log attribute keys of the server's log lines.
const (
	attrErr       = "err"
	attrTrigger   = "trigger"
	attrConfig    = "config"
	attrChanges   = "changes"
	attrAddr      = "addr"
	attrEndpoints = "endpoints"
	attrDataDir   = "dataDir"
)

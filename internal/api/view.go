package api

import (
	"encoding/json"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/wire"
)

// ViewOf is j as /status (and its webhook) shows it: wire.View.
func ViewOf(j *engine.Job) wire.JobView { return wire.View(j.Wire()) }

// streamViewOf is j with chunks as /stream shows them.
func streamViewOf(j *engine.Job, chunks []json.RawMessage) wire.StreamView {
	return wire.Stream(j.Wire(), chunks)
}

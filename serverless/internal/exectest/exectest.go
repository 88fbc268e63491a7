// Package exectest connects package serverless to its test kit,
// serverless/serverlesstest, without making the execution path part of the
// SDK's public surface: serverless sets Exec and ParseJob when it is
// initialised, serverlesstest calls them.
package exectest

import (
	"context"
	"encoding/json"
)

// Result is what one job produced: its final job-done body and everything
// it emitted on the way. serverlesstest.Result documents the fields.
type Result struct {
	Body         json.RawMessage
	Output       json.RawMessage
	Error        string
	ErrorMessage string
	Err          error
	Failed       bool
	StopPod      bool
	Chunks       []json.RawMessage
	Progress     []json.RawMessage
}

// Hooks are called while a job runs: with each streamed chunk as it is
// yielded (before the handler resumes; an error is a failed post of the
// chunk) and with each progress update as it is made.
type Hooks struct {
	OnChunk    func(ctx context.Context, chunk json.RawMessage) error
	OnProgress func(ctx context.Context, progress json.RawMessage) error
}

// Exec runs cfg (a serverless.Config) on job (a *serverless.Job) through
// the production worker's execution path, without network I/O. The error
// is non-nil only when cfg or job is unusable. Set by package serverless.
var Exec func(ctx context.Context, cfg, job any, h Hooks) (Result, error)

// ParseJob decodes a job object as job-take sends it into a
// *serverless.Job. Set by package serverless.
var ParseJob func(data []byte) (any, error)

package serverless

import (
	"github.com/sluicehq/sluice/internal/wire"

	"context"
	"fmt"
	"log/slog"
	"sync"
)

// postSink is the production jobSink: stream chunks go to job-stream and
// progress updates to job-done (docs/spec/runpod-worker-protocol.md 1.6, 1.7), each post awaited, so they
// reach the platform in order and before the final result.
type postSink struct {
	p       *platform
	jobID   string
	postCtx context.Context // cancelled when the platform stops the job
	log     *slog.Logger

	mu     sync.Mutex // serialises progress posts; held by close
	closed bool
}

func (s *postSink) chunk(_ context.Context, output any) error {
	body, err := encodeObject(field{keyOutput, output})
	if err != nil {
		return fmt.Errorf("stream chunk for job %s: %w", s.jobID, err)
	}
	// Chunks use postCtx, not the job's ctx: a shutdown cancels the job's
	// ctx, but what it streams must still reach the platform.
	if err := s.p.postJSON(s.postCtx, s.p.env.jobStreamURL(s.jobID), s.jobID, body, postRetryFor); err != nil {
		if s.postCtx.Err() == nil {
			s.log.Error("Failed to stream job output. | " + err.Error())
		}
		return fmt.Errorf("stream chunk for job %s: %w", s.jobID, err)
	}
	return nil
}

func (s *postSink) progress(ctx context.Context, progress any) error {
	body, err := encodeObject(field{keyStatus, wire.StatusInProgress}, field{keyOutput, progress})
	if err != nil {
		return fmt.Errorf("progress update for job %s: %w", s.jobID, err)
	}
	// Like chunks, updates outlive the job's ctx (a shutdown cancels it
	// while the job drains); only a job-stop abandons them.
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer context.AfterFunc(s.postCtx, cancel)()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("progress update for job %s: %w", s.jobID, errJobFinished)
	}
	if err := s.p.postJSON(ctx, s.p.env.jobDoneURL(s.jobID, false), s.jobID, body, progressRetryFor); err != nil {
		return fmt.Errorf("progress update for job %s: %w", s.jobID, err)
	}
	return nil
}

// close waits for a progress post in flight and refuses later ones.
func (s *postSink) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

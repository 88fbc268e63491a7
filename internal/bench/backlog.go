package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// cpuOr0 is the child's CPU time, or 0 for a server in this process (or
// when /proc cannot be read).
func (c *child) cpuOr0() time.Duration {
	if c == nil {
		return 0
	}
	d, err := c.cpu()
	if err != nil {
		return 0
	}
	return d
}

// backlog runs the backlog phases (Options.Backlog) into rep: with the
// workers stopped (stop), submit the backlog and read the server's memory;
// start the workers (start) and time the drain; stop them, submit the
// backlog again and time purge-queue. The workers run again at the end.
func (c *client) backlog(ctx context.Context, opts Options, rep *Report, ch *child, stop func(), start func() error) error {
	n := opts.Backlog
	rep.Backlog = n
	stop()
	var rss0 int64
	if ch != nil {
		var err error
		if rss0, err = ch.rss(); err != nil {
			return err
		}
	}
	t0 := time.Now()
	if err := c.submitMany(ctx, n, opts.Concurrency); err != nil {
		return err
	}
	rep.SubmitRate = float64(n) / time.Since(t0).Seconds()
	if ch != nil {
		rss1, err := ch.rss()
		if err != nil {
			return err
		}
		rep.RSSPerQueued = float64(rss1-rss0) / float64(n)
	}
	cpu0 := ch.cpuOr0()
	t0 = time.Now()
	if err := start(); err != nil {
		return err
	}
	if err := c.waitDrained(ctx); err != nil {
		return err
	}
	rep.DrainRate = float64(n) / time.Since(t0).Seconds()
	rep.DrainCPU = (ch.cpuOr0() - cpu0) / time.Duration(n)
	stop()
	if err := c.submitMany(ctx, n, opts.Concurrency); err != nil {
		return err
	}
	t0 = time.Now()
	purged, err := c.purge(ctx)
	if err != nil {
		return err
	}
	rep.PurgeTime, rep.Purged = time.Since(t0), purged
	return start()
}

// submitMany submits n no-op jobs with /run from conc clients.
func (c *client) submitMany(ctx context.Context, n, conc int) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := c.post(ctx, "/run", noopBody); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return fmt.Errorf("bench: submit backlog: %w", first)
	}
	return nil
}

// healthView is the part of /health the backlog phases read.
type healthView struct {
	Jobs struct {
		InQueue    int `json:"inQueue"`
		InProgress int `json:"inProgress"`
	} `json:"jobs"`
}

// waitDrained polls /health until no job is queued or running (up to 20
// failed polls in a row are tolerated).
func (c *client) waitDrained(ctx context.Context) error {
	failures := 0
	for {
		var h healthView
		// A busy server may answer 503 for a moment: ask again.
		if err := c.getJSON(ctx, "/health", &h); err != nil {
			if failures++; failures > 20 {
				return fmt.Errorf("bench: drain: %w", err)
			}
		} else if failures = 0; h.Jobs.InQueue == 0 && h.Jobs.InProgress == 0 {
			return nil
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("bench: drain: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// purge calls purge-queue and returns how many jobs it removed.
func (c *client) purge(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/purge-queue", nil)
	if err != nil {
		return 0, err
	}
	var v struct {
		Removed int `json:"removed"`
	}
	if err := doJSON(c.http, req, &v); err != nil {
		return 0, fmt.Errorf("bench: purge: %w", err)
	}
	return v.Removed, nil
}

// getJSON GETs path into v.
func (c *client) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	return doJSON(c.http, req, v)
}

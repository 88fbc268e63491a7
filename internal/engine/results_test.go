package engine

// Conformance cases about results, streams, payload sizes and expiry.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func testTTLExpiry(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	ctx := ctxT(t, 30*time.Second)
	j := submit(t, e, ep, `1`, func(r *SubmitRequest) { r.Policy.TTL = time.Second })
	big := submit(t, e, ep, string(bigJSON(200<<10)), func(r *SubmitRequest) { r.Policy.TTL = time.Second })
	waitFor(t, 20*time.Second, "ttl expiry", func() bool {
		_, err1 := e.Get(ctx, ep, j.ID)
		_, err2 := e.Get(ctx, ep, big.ID)
		return errors.Is(err1, ErrNotFound) && errors.Is(err2, ErrNotFound)
	})
	// Never started.
	takeNone(t, e, ep, "w", 200*time.Millisecond)
	_, err := e.Cancel(ctx, ep, j.ID)
	mustErr(t, err, ErrNotFound, "cancel expired")
	// /status?ttl= shortens a job's life; it cannot lengthen it.
	s := submit(t, e, ep, `3`)
	_, err = e.SetTTL(ctx, ep, s.ID, 48*time.Hour)
	mustErr(t, err, ErrInvalid, "longer ttl")
	if g := must(e.SetTTL(ctx, ep, s.ID, time.Since(s.CreatedAt)+time.Second)); g.Status != StatusInQueue {
		t.Fatalf("after shortening: %+v", g)
	}
	waitFor(t, 20*time.Second, "expiry after a shortened ttl", func() bool {
		_, err := e.Get(ctx, ep, s.ID)
		return errors.Is(err, ErrNotFound)
	})
	s2 := submit(t, e, ep, `4`)
	_, err = e.SetTTL(ctx, ep, s2.ID, time.Nanosecond) // over before Submit returned
	mustErr(t, err, ErrNotFound, "ttl already past")
	_, err = e.Get(ctx, ep, s2.ID)
	mustErr(t, err, ErrNotFound, "get after ttl already past")
	// The ttl counts from submission and also ends a running job: it
	// disappears and its worker gets a stop signal.
	// (4 s: long enough that a loaded 3-node cluster hands it out first.)
	r := submit(t, e, ep, `2`, func(r *SubmitRequest) { r.Policy.TTL = 4 * time.Second })
	takeOne(t, e, ep, "w")
	ids, err := e.StopSignals(ctx, ep, "w")
	if err != nil || len(ids) != 1 || ids[0] != r.ID {
		t.Fatalf("stop signals after ttl mid-run: %v, %v", ids, err)
	}
	_, err = e.Get(ctx, ep, r.ID)
	mustErr(t, err, ErrNotFound, "get after ttl mid-run")
	mustErr(t, e.Finish(ctx, ep, "w", r.ID, Result{}), ErrNotFound, "finish after ttl mid-run")
}

func testRetention(t *testing.T, b *backend) {
	// Retention 6 s: the three takes and finishes below fit in it even on a
	// loaded 3-node cluster, before the first result is read.
	e, ep := setup(t, b, func(c *Config) { c.Retention = 6 * time.Second; c.SyncRetention = time.Second })
	ctx := ctxT(t, 30*time.Second)
	a := submit(t, e, ep, `1`)
	s := submit(t, e, ep, `2`, func(r *SubmitRequest) { r.Sync = true })
	long := submit(t, e, ep, `3`, func(r *SubmitRequest) { r.Sync = true; r.Retention = time.Hour })
	for range 3 {
		tj := takeOne(t, e, ep, "w")
		noErr(t, e.Finish(ctx, ep, "w", tj.ID, Result{Output: bigJSON(100 << 10)}))
	}
	if g := must(e.Get(ctx, ep, a.ID)); g.Status != StatusCompleted || len(g.Output) != len(bigJSON(100<<10)) {
		t.Fatalf("finished job: %s", g.Status)
	}
	waitFor(t, 20*time.Second, "sync result expiry", func() bool {
		_, err := e.Get(ctx, ep, s.ID)
		return errors.Is(err, ErrNotFound)
	})
	waitFor(t, 20*time.Second, "async result expiry", func() bool {
		_, err := e.Get(ctx, ep, a.ID)
		return errors.Is(err, ErrNotFound)
	})
	_, err := e.Retry(ctx, ep, a.ID)
	mustErr(t, err, ErrNotFound, "retry expired")
	if g := must(e.Get(ctx, ep, long.ID)); g.Status != StatusCompleted {
		t.Fatalf("job with a longer retention: %s", g.Status)
	}
}

func testOutputTooLarge(t *testing.T, b *backend) {
	e, ep := setup(t, b, func(c *Config) { c.MaxOutputBytes = 1000 })
	ctx := ctxT(t, 30*time.Second)
	j := submit(t, e, ep, `1`)
	takeOne(t, e, ep, "w")
	if err := e.Finish(ctx, ep, "w", j.ID, Result{Output: bigJSON(2000)}); err != nil {
		t.Fatalf("finish: %v", err)
	}
	g := must(e.Get(ctx, ep, j.ID))
	if g.Status != StatusFailed || !strings.Contains(string(g.Error), "exceeds") || g.Output != nil {
		t.Fatalf("oversize result: %+v", g)
	}
}

func testErrorResult(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	ctx := ctxT(t, 30*time.Second)
	cases := []struct {
		errv string
		want Status
	}{{`"boom"`, StatusFailed}, {`{"k":1}`, StatusFailed}, {`null`, StatusCompleted}, {`""`, StatusCompleted}, {`false`, StatusCompleted}}
	// A huge error value fails the job with the error cut, not a stuck job.
	j := submit(t, e, ep, `1`)
	takeOne(t, e, ep, "w")
	noErr(t, e.Finish(ctx, ep, "w", j.ID, Result{Error: bigJSON(2 << 20)}))
	if g := must(e.Get(ctx, ep, j.ID)); g.Status != StatusFailed || len(g.Error) > 64<<10 || !strings.Contains(string(g.Error), "truncated") {
		t.Fatalf("huge error: %s, %d bytes", g.Status, len(g.Error))
	}
	for _, c := range cases {
		j := submit(t, e, ep, `1`)
		takeOne(t, e, ep, "w")
		noErr(t, e.Finish(ctx, ep, "w", j.ID, Result{Output: json.RawMessage(`"out"`), Error: json.RawMessage(c.errv), StopPod: true}))
		g := must(e.Get(ctx, ep, j.ID))
		if g.Status != c.want || string(g.Output) != `"out"` || !g.StopPod {
			t.Fatalf("error %s: %+v, want %s", c.errv, g, c.want)
		}
		if c.want == StatusFailed && string(g.Error) != c.errv {
			t.Fatalf("error %s kept as %s", c.errv, g.Error)
		}
	}
}

func testProgress(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	ctx := ctxT(t, 30*time.Second)
	j := submit(t, e, ep, `1`)
	takeOne(t, e, ep, "w")
	noErr(t, e.Progress(ctx, ep, "w", j.ID, json.RawMessage(`{"pct":50}`)))
	g := must(e.Get(ctx, ep, j.ID))
	if g.Status != StatusInProgress || string(g.Output) != `{"pct":50}` {
		t.Fatalf("after progress: %+v", g)
	}
	mustErr(t, e.Progress(ctx, ep, "other", j.ID, json.RawMessage(`1`)), ErrNotOwner, "progress by non-owner")
	// A large progress value goes through the blob path.
	noErr(t, e.Progress(ctx, ep, "w", j.ID, bigJSON(300<<10)))
	if g := must(e.Get(ctx, ep, j.ID)); !bytes.Equal(g.Output, bigJSON(300<<10)) {
		t.Fatalf("large progress not read back (%d bytes)", len(g.Output))
	}
	noErr(t, e.Finish(ctx, ep, "w", j.ID, Result{Output: json.RawMessage(`"done"`)}))
	mustErr(t, e.Progress(ctx, ep, "w", j.ID, json.RawMessage(`{"pct":99}`)), ErrNotOwner, "progress after finish")
	g = must(e.Get(ctx, ep, j.ID))
	if g.Status != StatusCompleted || string(g.Output) != `"done"` {
		t.Fatalf("progress moved a terminal job: %+v", g)
	}

	// Large progress updates racing the large final result never harm it.
	j2 := submit(t, e, ep, `2`)
	takeOne(t, e, ep, "w")
	final := bigJSON(200 << 10)
	final[1] = 'F'
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 5 {
			err := e.Progress(ctx, ep, "w", j2.ID, bigJSON(150<<10))
			if err != nil && !errors.Is(err, ErrNotOwner) {
				t.Errorf("progress: %v", err)
			}
		}
	}()
	noErr(t, e.Finish(ctx, ep, "w", j2.ID, Result{Output: final}))
	wg.Wait()
	if g := must(e.Get(ctx, ep, j2.ID)); g.Status != StatusCompleted || !bytes.Equal(g.Output, final) {
		t.Fatalf("final output after racing progress: %s, %d bytes", g.Status, len(g.Output))
	}
}

func testStream(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	ctx := ctxT(t, 30*time.Second)
	j := submit(t, e, ep, `1`)
	takeOne(t, e, ep, "w")
	for i := range 3 {
		noErr(t, e.AppendStream(ctx, ep, "w", j.ID, json.RawMessage(fmt.Sprint(i))))
	}
	sj, chunks, err := e.ReadStream(ctx, ep, j.ID)
	if err != nil || sj.Status != StatusInProgress || joinChunks(chunks) != "0,1,2" {
		t.Fatalf("first read: %v %q %v", sj, joinChunks(chunks), err)
	}
	// Nothing new: the read waits until its deadline and returns nothing.
	_, chunks, err = e.ReadStream(ctxT(t, 100*time.Millisecond), ep, j.ID)
	if err != nil || len(chunks) != 0 {
		t.Fatalf("empty read: %q %v", joinChunks(chunks), err)
	}
	// A waiting read wakes up on a new chunk.
	got := make(chan string, 1)
	go func() {
		_, chunks, err := e.ReadStream(ctx, ep, j.ID)
		if err != nil {
			t.Errorf("read: %v", err)
		}
		got <- joinChunks(chunks)
	}()
	noErr(t, e.AppendStream(ctx, ep, "w", j.ID, json.RawMessage(`"x"`)))
	if s := <-got; s != `"x"` {
		t.Fatalf("woken read: %q", s)
	}
	mustErr(t, e.AppendStream(ctx, ep, "w", j.ID, bigJSON(e.cfg.MaxOutputBytes+1)), ErrTooLarge, "oversize chunk")
	// A 1 MiB chunk (Runpod's per-chunk maximum) goes through the blob path.
	noErr(t, e.AppendStream(ctx, ep, "w", j.ID, bigJSON(1<<20)))
	_, chunks, err = e.ReadStream(ctx, ep, j.ID)
	if err != nil || len(chunks) != 1 || !bytes.Equal(chunks[0], bigJSON(1<<20)) {
		t.Fatalf("1 MiB chunk read back as %d chunks, %v", len(chunks), err)
	}
	noErr(t, e.AppendStream(ctx, ep, "w", j.ID, json.RawMessage(`"last"`)))
	noErr(t, e.Finish(ctx, ep, "w", j.ID, Result{IsStream: true}))
	fj, chunks, err := e.ReadStream(ctx, ep, j.ID)
	if err != nil || fj.Status != StatusCompleted || joinChunks(chunks) != `"last"` || !fj.IsStream {
		t.Fatalf("read after finish: %+v %q %v", fj, joinChunks(chunks), err)
	}
	fj, chunks, err = e.ReadStream(ctx, ep, j.ID)
	if err != nil || fj.Status != StatusCompleted || len(chunks) != 0 {
		t.Fatalf("final read: %+v %q %v", fj, joinChunks(chunks), err)
	}
}

func joinChunks(c []json.RawMessage) string {
	var s []string
	for _, x := range c {
		s = append(s, string(x))
	}
	return strings.Join(s, ",")
}

// bigJSON returns a JSON string value of about n bytes.
func bigJSON(n int) json.RawMessage {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	b[0], b[n-1] = '"', '"'
	return b
}

func testLargePayloads(t *testing.T, b *backend) {
	e, ep := setup(t, b, func(c *Config) { c.WorkerLostAfter = time.Minute })
	ctx := ctxT(t, 120*time.Second)
	in := bigJSON(12 << 20)
	out := bigJSON(15 << 20)
	j := submit(t, e, ep, string(in))
	tj := takeOne(t, e, ep, "w")
	if tj.ID != j.ID || !bytes.Equal(tj.Input, in) {
		t.Fatalf("12 MB input came back as %d bytes", len(tj.Input))
	}
	if g := must(e.Get(ctx, ep, j.ID)); g.Input != nil {
		t.Fatalf("Get carried a %d-byte input", len(g.Input))
	}
	if got := must(e.Input(ctx, ep, j.ID)); !bytes.Equal(got, in) {
		t.Fatalf("Input returned %d bytes", len(got))
	}
	noErr(t, e.Finish(ctx, ep, "w", j.ID, Result{Output: out}))
	g := must(e.Wait(ctx, ep, j.ID))
	if g.Status != StatusCompleted || !bytes.Equal(g.Output, out) {
		t.Fatalf("15 MB output came back as %s, %d bytes", g.Status, len(g.Output))
	}
	_, err := e.Submit(ctx, ep, SubmitRequest{Input: bigJSON(maxInputBytes + 1)})
	mustErr(t, err, ErrTooLarge, "oversize input")
}

// testStorageFlat runs jobs with every kind of stored value and checks that
// once retention passes nothing of them is left in any stream: storage
// follows retention, not history.
func testStorageFlat(t *testing.T, b *backend) {
	e, ep := setup(t, b, func(c *Config) { c.Retention = 3 * time.Second; c.SyncRetention = 3 * time.Second })
	e.inputGrace = 0
	ctx := ctxT(t, 60*time.Second)
	pol := Policy{ExecutionTimeout: 2 * time.Second}
	for i := range 12 {
		in := json.RawMessage(fmt.Sprint(i))
		if i%4 == 0 {
			in = bigJSON(300 << 10)
		}
		j := must(e.Submit(ctx, ep, SubmitRequest{Input: in, Policy: pol, Sync: i%3 == 0}))
		tj := takeOne(t, e, ep, "w")
		noErr(t, e.Progress(ctx, ep, "w", tj.ID, bigJSON(100<<10)))
		noErr(t, e.AppendStream(ctx, ep, "w", tj.ID, json.RawMessage(`"c"`)))
		noErr(t, e.AppendStream(ctx, ep, "w", tj.ID, bigJSON(200<<10)))
		noErr(t, e.Finish(ctx, ep, "w", j.ID, Result{Output: bigJSON(150 << 10)}))
	}
	c := must(e.Submit(ctx, ep, SubmitRequest{Input: bigJSON(100 << 10), Policy: pol}))
	must(e.Cancel(ctx, ep, c.ID))
	count := func(s interface {
		Info(context.Context, ...jetstream.StreamInfoOpt) (*jetstream.StreamInfo, error)
	}, filter string) int {
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
		if err != nil {
			t.Fatalf("stream info %s: %v", filter, err)
		}
		n := 0
		for _, c := range info.State.Subjects {
			n += int(c)
		}
		return n
	}
	if count(e.jobs, jobsPrefix+ep+".*") == 0 || count(e.blobs, blobPrefix+ep+".>") == 0 {
		t.Fatal("nothing stored to begin with")
	}
	waitFor(t, 45*time.Second, "storage of the endpoint back to zero", func() bool {
		return count(e.jobs, jobsPrefix+ep+".*") == 0 &&
			count(e.blobs, blobPrefix+ep+".>") == 0 &&
			count(e.chunks, chunkPrefix+ep+".*") == 0 &&
			count(e.queue, queuePrefix+ep+".>") == 0 &&
			count(e.jobs, leaseSubject(ep, "*")) == 0 &&
			count(e.stops, stopPrefix+ep+".>") == 0
	})
}

package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// listIDs lists every page of ep (statuses, page size limit) and returns the
// ids in order and the number of pages.
func listIDs(t *testing.T, e *Engine, ep string, limit int, statuses ...Status) ([]string, int) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	var ids []string
	q := ListQuery{Statuses: statuses, Limit: limit}
	for pages := 1; ; pages++ {
		p, err := e.List(ctx, ep, q)
		if err != nil {
			t.Fatalf("list %s %v: %v", ep, statuses, err)
		}
		for _, j := range p.Jobs {
			if len(statuses) > 0 && !slices.Contains(statuses, j.Status) {
				t.Fatalf("list %v returned %s in %s", statuses, j.ID, j.Status)
			}
			ids = append(ids, j.ID)
		}
		if p.Next == nil {
			return ids, pages
		}
		if pages > 1000 {
			t.Fatal("list: no last page")
		}
		q.After = p.Next
	}
}

func reversed(s []string) []string {
	s = slices.Clone(s)
	slices.Reverse(s)
	return s
}

// testListing: jobs newest first, filtered by status, paged with a cursor
// that stays stable while new jobs arrive; purged jobs list as CANCELLED.
func testListing(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	ctx := ctxT(t, 60*time.Second)
	var ids []string
	for i := range 9 {
		ids = append(ids, submit(t, e, ep, fmt.Sprint(i)).ID)
	}
	// ids[0..2] complete, ids[3] fails, ids[4] is cancelled, ids[5] runs, the rest wait.
	for i := range 6 {
		j := takeOne(t, e, ep, "w")
		if j.ID != ids[i] {
			t.Fatalf("took %s, want %s", j.ID, ids[i])
		}
		switch {
		case i < 3:
			noErr(t, e.Finish(ctx, ep, "w", j.ID, Result{Output: json.RawMessage(`"ok"`)}))
		case i == 3:
			noErr(t, e.Finish(ctx, ep, "w", j.ID, Result{Error: json.RawMessage(`"boom\nsecond line"`)}))
		case i == 4:
			must(e.Cancel(ctx, ep, j.ID))
		}
	}
	all, pages := listIDs(t, e, ep, 50)
	if !slices.Equal(all, reversed(ids)) || pages != 1 {
		t.Fatalf("list all: %v in %d pages, want %v", all, pages, reversed(ids))
	}
	for _, c := range []struct {
		st   []Status
		want []string
	}{
		{[]Status{StatusCompleted}, reversed(ids[:3])},
		{[]Status{StatusFailed}, ids[3:4]},
		{[]Status{StatusCancelled}, ids[4:5]},
		{[]Status{StatusInProgress}, ids[5:6]},
		{[]Status{StatusInQueue}, reversed(ids[6:])},
		{[]Status{StatusTimedOut}, nil},
		{[]Status{StatusFailed, StatusCompleted}, reversed(ids[:4])},
	} {
		got, _ := listIDs(t, e, ep, 2, c.st...)
		if !slices.Equal(got, c.want) {
			t.Errorf("list %v: %v, want %v", c.st, got, c.want)
		}
	}
	p := must(e.List(ctx, ep, ListQuery{Statuses: []Status{StatusFailed}}))
	if f := p.Jobs[0]; f.CreatedAt.IsZero() || f.FinishedAt.IsZero() || f.WorkerID != "w" || string(f.Error) != `"boom\nsecond line"` {
		t.Fatalf("failed job summary: %+v", f)
	}

	// Paging while new jobs arrive: the pages after the first are the same.
	first := must(e.List(ctx, ep, ListQuery{Limit: 4}))
	if len(first.Jobs) != 4 || first.Next == nil {
		t.Fatalf("first page: %d jobs, next %v", len(first.Jobs), first.Next)
	}
	for i := range 3 {
		submit(t, e, ep, fmt.Sprint(100+i))
	}
	var rest []string
	q := ListQuery{Limit: 4, After: first.Next}
	for {
		p := must(e.List(ctx, ep, q))
		for _, j := range p.Jobs {
			rest = append(rest, j.ID)
		}
		if p.Next == nil {
			break
		}
		cur, err := ParseListCursor(p.Next.String())
		noErr(t, err)
		q.After = &cur
	}
	if want := reversed(ids)[4:]; !slices.Equal(rest, want) {
		t.Fatalf("pages after the cursor: %v, want %v", rest, want)
	}

	// A purge: the queued jobs list as CANCELLED.
	must(e.Purge(ctx, ep))
	queued, _ := listIDs(t, e, ep, 50, StatusInQueue)
	if len(queued) != 0 {
		t.Fatalf("queued after purge: %v", queued)
	}
	cancelled, _ := listIDs(t, e, ep, 50, StatusCancelled)
	if len(cancelled) != 3+3+1 {
		t.Fatalf("cancelled after purge: %d (%v), want 7", len(cancelled), cancelled)
	}

	// Bad queries.
	for _, q := range []ListQuery{{Limit: -1}, {Limit: MaxListLimit + 1}, {Statuses: []Status{"DONE"}}} {
		if _, err := e.List(ctx, ep, q); !errors.Is(err, ErrInvalid) {
			t.Errorf("list %+v: %v, want ErrInvalid", q, err)
		}
	}
	if _, err := e.List(ctx, "nope", ListQuery{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("list of an unknown endpoint: %v", err)
	}
}

// testListingExpiry: a job whose retention ended is no longer listed.
func testListingExpiry(t *testing.T, b *backend) {
	e, ep := setup(t, b, func(c *Config) { c.SyncRetention = time.Second })
	ctx := ctxT(t, 60*time.Second)
	keep := submit(t, e, ep, `1`)
	gone := submit(t, e, ep, `2`, func(r *SubmitRequest) { r.Sync = true })
	if ids, _ := listIDs(t, e, ep, 10); !slices.Equal(ids, []string{gone.ID, keep.ID}) {
		t.Fatalf("before expiry: %v", ids)
	}
	for _, want := range []string{keep.ID, gone.ID} {
		j := takeOne(t, e, ep, "w")
		if j.ID != want {
			t.Fatalf("took %s, want %s", j.ID, want)
		}
	}
	noErr(t, e.Finish(ctx, ep, "w", gone.ID, Result{Output: json.RawMessage(`1`)}))
	waitFor(t, 20*time.Second, "the /runsync job to leave the list", func() bool {
		ids, _ := listIDs(t, e, ep, 10)
		return slices.Equal(ids, []string{keep.ID})
	})
	// The sweep drops what no page looked at.
	other := submit(t, e, ep, `3`, func(r *SubmitRequest) { r.Sync = true })
	must(e.Cancel(ctx, ep, other.ID))
	ix := must(e.listIndex(ctx))
	noErr(t, ix.sync(ctx, ep))
	ix.sweep(time.Now().Add(2 * time.Second))
	ix.mu.RLock()
	_, present := ix.eps[ep].byID[other.ID]
	n := len(ix.eps[ep].byID)
	ix.mu.RUnlock()
	if present || n != 1 {
		t.Fatalf("after a sweep past its expiry: cancelled job present %v, %d entries", present, n)
	}
}

// testListingReplicas: a job submitted through one replica is listed by the
// other at once, in its current state.
func testListingReplicas(t *testing.T, b *backend) {
	if !b.multi {
		t.Skip("one engine per embedded data directory")
	}
	ep := newEndpoint()
	cfg := fastConfig(ep)
	a, bb := b.open(t, cfg), b.open(t, cfg)
	ctx := ctxT(t, 30*time.Second)
	must(bb.List(ctx, ep, ListQuery{})) // B's index runs before A submits
	j1 := submit(t, a, ep, `1`)
	ids, _ := listIDs(t, bb, ep, 10)
	if !slices.Equal(ids, []string{j1.ID}) {
		t.Fatalf("B lists %v, want %s", ids, j1.ID)
	}
	j2 := submit(t, bb, ep, `2`)
	takeOne(t, a, ep, "w")
	noErr(t, a.Finish(ctx, ep, "w", j1.ID, Result{Error: json.RawMessage(`"x"`)}))
	for _, e := range []*Engine{a, bb} {
		if ids, _ := listIDs(t, e, ep, 10, StatusFailed); !slices.Equal(ids, []string{j1.ID}) {
			t.Fatalf("FAILED list: %v", ids)
		}
		if ids, _ := listIDs(t, e, ep, 10); !slices.Equal(ids, []string{j2.ID, j1.ID}) {
			t.Fatalf("list: %v", ids)
		}
	}
}

// TestListingRestart: a restarted engine lists the jobs it had, in their states.
func TestListingRestart(t *testing.T) {
	dir := t.TempDir()
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.DataDir = dir
	ctx := ctxT(t, 60*time.Second)
	e1 := must(Open(ctx, cfg))
	var ids []string
	for i := range 5 {
		ids = append(ids, must(e1.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(fmt.Sprint(i))})).ID)
	}
	j := must(e1.Take(ctx, ep, "w", 1))[0]
	noErr(t, e1.Finish(ctx, ep, "w", j.ID, Result{Error: json.RawMessage(`"no"`)}))
	must(e1.List(ctx, ep, ListQuery{}))
	noErr(t, e1.Close())

	e2 := openEngine(t, cfg)
	if got, _ := listIDs(t, e2, ep, 2); !slices.Equal(got, reversed(ids)) {
		t.Fatalf("after restart: %v, want %v", got, reversed(ids))
	}
	if got, _ := listIDs(t, e2, ep, 2, StatusFailed); !slices.Equal(got, []string{j.ID}) {
		t.Fatalf("FAILED after restart: %v", got)
	}
	if got, _ := listIDs(t, e2, ep, 2, StatusInQueue); !slices.Equal(got, reversed(ids[1:])) {
		t.Fatalf("IN_QUEUE after restart: %v", got)
	}
}

// TestAttempts: a worker-lost requeue and a /retry each start an attempt.
func TestAttempts(t *testing.T) {
	e, ep, ctx := soloEngine(t)
	j := must(e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`1`)}))
	must(e.Take(ctx, ep, "w1", 1))
	if n := must(e.WorkerGone(ctx, ep, "w1", "exited with status 1")); n != 1 {
		t.Fatalf("released %d jobs", n)
	}
	must(e.Take(ctx, ep, "w2", 1))
	d := must(e.Detail(ctx, ep, j.ID))
	if len(d.Attempts) != 2 || d.Attempts[1].Outcome != OutcomeRunning || d.Attempts[1].WorkerID != "w2" {
		t.Fatalf("running second attempt: %+v", d.Attempts)
	}
	errv := `"{\"error_type\": \"ValueError\", \"error_message\": \"bad input\", \"error_traceback\": \"Traceback: line 1\"}"`
	noErr(t, e.Finish(ctx, ep, "w2", j.ID, Result{Error: json.RawMessage(errv)}))
	must(e.Retry(ctx, ep, j.ID))
	must(e.Take(ctx, ep, "w3", 1))
	noErr(t, e.Finish(ctx, ep, "w3", j.ID, Result{Output: json.RawMessage(`"done"`)}))

	d = must(e.Detail(ctx, ep, j.ID))
	want := []struct{ worker, outcome, err string }{
		{"w1", OutcomeWorkerLost, "worker w1 exited with status 1"},
		{"w2", "FAILED", "ValueError: bad input"},
		{"w3", "COMPLETED", ""},
	}
	if len(d.Attempts) != len(want) {
		t.Fatalf("attempts: %+v", d.Attempts)
	}
	for i, w := range want {
		a := d.Attempts[i]
		if a.Attempt != i+1 || a.WorkerID != w.worker || a.Outcome != w.outcome || a.Error != w.err ||
			a.StartedAt.IsZero() || a.FinishedAt.Before(a.StartedAt) {
			t.Errorf("attempt %d: %+v, want %+v", i+1, a, w)
		}
	}
	if d.Status != StatusCompleted || d.Retries != 1 || string(d.Output) != `"done"` || d.InputBytes != 1 || d.InputTruncated {
		t.Fatalf("detail: %+v", d)
	}
}

// TestAttemptLostForGood: the last lost try FAILS the job and is WORKER_LOST.
func TestAttemptLostForGood(t *testing.T) {
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.DataDir = t.TempDir()
	cfg.MaxRetries = -1
	e := openEngine(t, cfg)
	ctx := ctxT(t, 30*time.Second)
	j := must(e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`1`)}))
	must(e.Take(ctx, ep, "w1", 1))
	must(e.WorkerGone(ctx, ep, "w1", "was killed"))
	d := must(e.Detail(ctx, ep, j.ID))
	if d.Status != StatusFailed || len(d.Attempts) != 1 || d.Attempts[0].Outcome != OutcomeWorkerLost {
		t.Fatalf("detail: %s %+v", d.Status, d.Attempts)
	}
	must(e.Retry(ctx, ep, j.ID))
	if d := must(e.Detail(ctx, ep, j.ID)); len(d.Attempts) != 1 {
		t.Fatalf("after retry: %+v", d.Attempts)
	}
}

// TestDetailLargeInputStreamAndWebhook: a large input is previewed, stream
// chunks are counted and the webhook delivery state follows its settlements.
func TestDetailLargeInputStreamAndWebhook(t *testing.T) {
	e, ep, ctx := soloEngine(t)
	big := bigJSON(200 << 10)
	j := must(e.Submit(ctx, ep, SubmitRequest{Input: big, Webhook: "http://127.0.0.1:9/hook"}))
	d := must(e.Detail(ctx, ep, j.ID))
	if !d.InputTruncated || d.InputBytes != len(big) || len(d.InputPreview) != inlineMax || d.Input != nil ||
		!strings.HasPrefix(string(big), string(d.InputPreview)) {
		t.Fatalf("large input: truncated %v bytes %d preview %d input %d", d.InputTruncated, d.InputBytes, len(d.InputPreview), len(d.Input))
	}
	if d.Webhook == nil || d.Webhook.State != WebhookPending || d.Webhook.URL != "http://127.0.0.1:9/hook" {
		t.Fatalf("webhook before the end: %+v", d.Webhook)
	}
	must(e.Take(ctx, ep, "w", 1))
	for i := range 3 {
		noErr(t, e.AppendStream(ctx, ep, "w", j.ID, json.RawMessage(fmt.Sprint(i))))
	}
	noErr(t, e.Finish(ctx, ep, "w", j.ID, Result{Output: json.RawMessage(`1`)}))
	got := make(chan *Delivery, 4)
	stop := must(e.Deliveries(ctx, 2, func(d *Delivery) { got <- d }))
	defer stop()
	next := func() *Delivery {
		select {
		case d := <-got:
			return d
		case <-ctx.Done():
			t.Fatal("no delivery")
			return nil
		}
	}
	dl := next()
	dl.SetError(errors.New("POST: 500 Internal Server Error"))
	noErr(t, dl.Retry(10*time.Millisecond))
	d = must(e.Detail(ctx, ep, j.ID))
	if d.StreamChunks != 3 || d.Webhook.State != WebhookPending || d.Webhook.Attempts != 1 || d.Webhook.LastError != "POST: 500 Internal Server Error" {
		t.Fatalf("after a failed try: chunks %d webhook %+v", d.StreamChunks, d.Webhook)
	}
	noErr(t, next().Done())
	d = must(e.Detail(ctx, ep, j.ID))
	if d.Webhook.State != WebhookDelivered || d.Webhook.Attempts != 2 || d.Webhook.DeliveredAt.IsZero() {
		t.Fatalf("after delivery: %+v", d.Webhook)
	}
	if _, err := e.Detail(ctx, ep, "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("detail of an unknown job: %v", err)
	}
}

func FuzzParseListCursor(f *testing.F) {
	f.Add(ListCursor{At: time.Unix(1, 5), ID: "abc-1"}.String())
	f.Add("")
	f.Add("YzEuMS4u")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseListCursor(s)
		if err != nil {
			return
		}
		again, err := ParseListCursor(c.String())
		if err != nil || !again.At.Equal(c.At) || again.ID != c.ID {
			t.Fatalf("cursor %q: %+v, then %+v %v", s, c, again, err)
		}
	})
}

// TestAttemptsBounded: a record keeps its latest maxAttempts tries, numbered on.
func TestAttemptsBounded(t *testing.T) {
	r := &record{}
	t0 := time.Now()
	for i := range maxAttempts + 5 {
		r.WorkerID, r.StartedAt, r.FinishedAt = fmt.Sprint("w", i), t0.Add(time.Duration(i)*time.Second), time.Time{}
		r.Status = StatusFailed
		closeAttempt(r, "FAILED", "", t0.Add(time.Duration(i)*time.Second+time.Millisecond))
		closeAttempt(r, "FAILED", "", t0) // the same try again: not recorded twice
	}
	r.StartedAt, r.WorkerID, r.Status = t0.Add(time.Hour), "last", StatusInProgress
	a := attempts(r)
	if len(a) != maxAttempts+1 || a[0].Attempt != 6 || a[len(a)-2].Attempt != maxAttempts+5 || a[len(a)-1].Attempt != maxAttempts+6 ||
		a[len(a)-1].Outcome != OutcomeRunning || a[0].WorkerID != "w5" {
		t.Fatalf("attempts: %d, first %+v, last %+v", len(a), a[0], a[len(a)-1])
	}
}

// FuzzScanIndexRec: what scanIndexRec accepts from valid JSON, it reads as
// json.Unmarshal does.
func FuzzScanIndexRec(f *testing.F) {
	r := &record{Job: Job{ID: "a-1", Endpoint: "ep", Status: StatusFailed, Input: json.RawMessage(`{"id":"x","s":["}",{"a":"\""}]}`),
		Error: errorValue("boom \"x\""), CreatedAt: time.Unix(1, 2).UTC()}, ExpireAt: time.Unix(3, 0).UTC(),
		Attempts: []Attempt{{Attempt: 1, Outcome: "FAILED"}}}
	b, _ := json.Marshal(r)
	f.Add(b)
	f.Add([]byte(`{"ID":"x","id":"y"}`))
	f.Add([]byte(`{"id":null,"status":"IN_QUEUE","createdAt":"2026-12-06T19:51:44.123456789Z","n":-1.5e3,"t":true}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got indexRec
		if !scanIndexRec(b, &got) || !json.Valid(b) {
			return
		}
		var want indexRec
		if err := json.Unmarshal(b, &want); err != nil {
			t.Skip("not an object of these fields") // e.g. a number where a string is
		}
		if got.ID != want.ID || got.Status != want.Status || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpireAt.Equal(want.ExpireAt) {
			t.Fatalf("%s: scanned %+v, json.Unmarshal %+v", b, got, want)
		}
	})
}

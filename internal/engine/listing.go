package engine

// Job listing (GET /v2/{ep}/jobs): an endpoint's jobs newest first, filtered
// by status, a page at a time, without reading every record.
//
// The index lives in each engine's memory (index.go) and is fed from the
// jobs stream itself: an ephemeral consumer reads every message of the
// stream (job records and the purge marks, =purge.<ep>; leases, idempotency
// keys and delivery states are skipped), whichever replica wrote it. It
// reads in batches, when a List needs it and every second, never per
// message, so the submit/take/finish path does no more work while the
// index runs. Replicas on one NATS list the same jobs, and a restarted
// engine rebuilds its index by reading the stream, which holds the latest
// revision of each retained record. The index starts with the first List,
// so an engine nobody lists from keeps nothing.
//
// Entries are ordered by submission time (the record's CreatedAt, then the
// id), one B-tree per endpoint and status. A page walks the trees from the
// cursor, reads each candidate's record (the truth; the index is a hint) and
// skips the ones that moved to another status or expired, fixing the index
// as it goes. Expired records vanish from the stream without a message: the
// index drops an entry when its ExpireAt passes (a sweep) or when a page
// finds its record gone.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Listing limits.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
	// listSyncWait bounds how long List waits for its index to catch up with
	// the jobs stream before answering from what it has; listBuildWait is
	// the same for the first build (about 5 s for a million jobs).
	listSyncWait  = 5 * time.Second
	listBuildWait = 2 * time.Minute
)

// ListQuery selects a page of an endpoint's jobs.
type ListQuery struct {
	// Statuses keeps jobs in one of these states; empty keeps all.
	Statuses []Status
	// Limit is the page size, 1..MaxListLimit; 0 means DefaultListLimit.
	Limit int
	// After, when set, starts the page after this position (a previous
	// page's Next); nil starts at the newest job.
	After *ListCursor
}

// ListCursor is a position in an endpoint's jobs: the submission time and
// id of the last job of a page. Its String form is opaque to clients.
type ListCursor struct {
	At time.Time
	ID string
}

// ListPage is one page of jobs, newest first. Next is nil on the last page.
type ListPage struct {
	Jobs []*Job
	Next *ListCursor
}

const cursorVersion = "c1."

// String encodes c for a client (URL-safe, no padding).
func (c ListCursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorVersion + strconv.FormatInt(c.At.UnixNano(), 10) + "." + c.ID))
}

// ErrBadCursor is the error of ParseListCursor.
var ErrBadCursor = errors.New("bad cursor")

// ParseListCursor decodes a cursor made by ListCursor.String.
func ParseListCursor(s string) (ListCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), cursorVersion) {
		return ListCursor{}, fmt.Errorf("cursor %.40q: %w", s, ErrBadCursor)
	}
	ns, id, ok := strings.Cut(string(b[len(cursorVersion):]), ".")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || n < 0 || !tokenRE.MatchString(id) {
		return ListCursor{}, fmt.Errorf("cursor %.40q: %w", s, ErrBadCursor)
	}
	return ListCursor{At: time.Unix(0, n).UTC(), ID: id}, nil
}

// ListStatuses are the states a listing can filter on, in index order.
var ListStatuses = []Status{StatusInQueue, StatusInProgress, StatusCompleted, StatusFailed, StatusCancelled, StatusTimedOut}

// List returns a page of the endpoint's jobs, newest submission first. The
// jobs carry no input and no large output (a summary needs neither).
func (e *Engine) List(ctx context.Context, endpoint string, q ListQuery) (*ListPage, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return nil, err
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	if q.Limit < 1 || q.Limit > MaxListLimit {
		return nil, fmt.Errorf("list limit %d (1..%d): %w", q.Limit, MaxListLimit, ErrInvalid)
	}
	var want []uint8
	for _, s := range q.Statuses {
		i := slices.Index(ListStatuses, s)
		if i < 0 {
			return nil, fmt.Errorf("list status %q: %w", s, ErrInvalid)
		}
		want = append(want, uint8(i))
	}
	if len(want) == 0 {
		for i := range ListStatuses {
			want = append(want, uint8(i))
		}
	}
	ix, err := e.listIndex(ctx)
	if err != nil {
		return nil, err
	}
	if err := ix.sync(ctx, endpoint); err != nil {
		return nil, err
	}
	page := &ListPage{}
	var from *indexEntry
	if q.After != nil {
		from = &indexEntry{at: q.After.At.UnixNano(), id: q.After.ID}
	}
	for {
		cands := ix.page(endpoint, want, from, q.Limit-len(page.Jobs)+1)
		if len(cands) == 0 {
			return page, nil
		}
		for _, c := range cands {
			if len(page.Jobs) == q.Limit {
				last := page.Jobs[len(page.Jobs)-1]
				page.Next = &ListCursor{At: last.CreatedAt, ID: last.ID}
				return page, nil
			}
			from = &indexEntry{at: c.at, id: c.id}
			r, rev, err := e.load(ctx, endpoint, c.id)
			if errors.Is(err, ErrNotFound) {
				ix.remove(endpoint, c.id)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", endpoint, err)
			}
			st := uint8(slices.Index(ListStatuses, r.Status))
			if !slices.Contains(want, st) {
				ix.correct(endpoint, c.id, st, rev)
				continue
			}
			j := r.Job
			j.Input, j.Extra = nil, nil
			if r.OutputRef != nil {
				j.Output = nil
			}
			page.Jobs = append(page.Jobs, &j)
		}
	}
}

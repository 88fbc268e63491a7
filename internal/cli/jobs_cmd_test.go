package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestJobsListing(t *testing.T) {
	at := func(ago time.Duration) string { return time.Now().Add(-ago).UTC().Format(time.RFC3339Nano) }
	page := `{"jobs":[` +
		`{"id":"sync-1b2c3d4e-0000-4000-8000-000000000001","status":"IN_QUEUE","submittedAt":"` + at(45*time.Second) + `","retries":0},` +
		`{"id":"3f2c9a4e-0b1d-4c5e-8f6a-7b8c9d0e1f2a","status":"FAILED","submittedAt":"` + at(90*time.Minute) + `","delayTime":12,"executionTime":3400,"workerId":"w-2","retries":1,"error":"ValueError: bad input in field prompt"}],` +
		`"nextCursor":"YzEuMTIzLmFi"}`
	f := newFakeServer(t, map[string]http.HandlerFunc{
		"GET /v2/echo/jobs": answer(200, page),
		"GET /v2/none/jobs": answer(200, `{"jobs":[]}`),
		"GET /v2/echo/jobs/3f2c9a4e-0b1d-4c5e-8f6a-7b8c9d0e1f2a": answer(200, `{"id":"3f2c9a4e-0b1d-4c5e-8f6a-7b8c9d0e1f2a","status":"FAILED",`+
			`"submittedAt":"2026-12-06T18:51:44.123Z","startedAt":"2026-12-06T18:51:44.135Z","finishedAt":"2026-12-06T18:51:44.475Z","delayTime":12,"executionTime":340,`+
			`"workerId":"w-2","retries":1,"input":{"n": 42},"inputBytes":9,"error":"ValueError: bad input\nmore","traceback":"Traceback (most recent call last):\n  x",`+
			`"streamChunks":2,"attempts":[{"attempt":1,"workerId":"w-1","startedAt":"2026-12-06T18:51:44.128Z","finishedAt":"2026-12-06T18:51:44.132Z","outcome":"WORKER_LOST","error":"worker w-1 exited"},`+
			`{"attempt":2,"workerId":"w-2","startedAt":"2026-12-06T18:51:44.135Z","finishedAt":"2026-12-06T18:51:44.475Z","outcome":"FAILED","error":"ValueError: bad input"}],`+
			`"webhook":{"url":"https://example.com/hook","state":"failed","attempts":3,"lastError":"500 Internal Server Error"}}`),
		"GET /v2/echo/jobs/big":       answer(200, `{"id":"big","status":"IN_QUEUE","submittedAt":"2026-12-06T18:51:44.123Z","retries":0,"inputBytes":70000,"inputTruncated":true,"inputPreview":"{","streamChunks":0,"attempts":[]}`),
		"GET /v2/echo/jobs/big/input": answer(200, `{"text": "a"}`),
		"GET /v2/echo/jobs/gone":      answer(404, `{"error":"job gone: not found (unknown id, or the result expired after its retention time)"}`),
	})
	f.sluice(t, "", "jobs", "echo", "--status", "failed,IN_QUEUE", "--limit", "2").check(t, 0, ""+
		"ID                                         STATUS    AGE    EXEC  WORKER  ERROR\n"+
		"sync-1b2c3d4e-0000-4000-8000-000000000001  IN_QUEUE  45s    -     -       -\n"+
		"3f2c9a4e-0b1d-4c5e-8f6a-7b8c9d0e1f2a       FAILED    1h30m  3.4s  w-2     ValueError: …\n",
		"more: sluice jobs echo --status failed,IN_QUEUE --limit 2 --cursor YzEuMTIzLmFi\n")
	if q := f.requests()[0].query; q != "limit=2&status=FAILED%2CIN_QUEUE" {
		t.Errorf("query %q", q)
	}
	f.sluice(t, "", "jobs", "echo", "--cursor", "YzEuMTIzLmFi", "--json").check(t, 0, page+"\n", "")
	if q := f.requests()[1].query; q != "cursor=YzEuMTIzLmFi" {
		t.Errorf("query %q", q)
	}
	f.sluice(t, "", "jobs", "none").check(t, 0, "(none)\n", "")

	r := f.sluice(t, "", "job", "echo", "3f2c9a4e-0b1d-4c5e-8f6a-7b8c9d0e1f2a")
	for _, want := range []string{"status:         FAILED", "delay:          12ms", "execution:      340ms", `input:          {"n":42}`,
		"error:          ValueError: bad input\n                more", "stream chunks:  2",
		"webhook:        https://example.com/hook: failed after 3 attempt(s); last error: 500 Internal Server Error",
		"traceback:\n  Traceback (most recent call last):\n    x\n",
		"  1  w-1     18:51:44.128  4ms    WORKER_LOST  worker w-1 exited", "  2  w-2     18:51:44.135  340ms  FAILED       ValueError: bad input"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("job detail lacks %q:\n%s", want, r.out)
		}
	}
	if r.code != 0 || r.errOut != "" {
		t.Errorf("job: exit %d stderr %q", r.code, r.errOut)
	}
	r = f.sluice(t, "", "job", "echo", "big")
	if !strings.Contains(r.out, "input:      70000 bytes (whole: sluice job echo big --input)") || !strings.Contains(r.out, "attempts:\n  (none yet)\n") {
		t.Errorf("truncated input:\n%s", r.out)
	}
	f.sluice(t, "", "job", "echo", "big", "--input").check(t, 0, "{\n  \"text\": \"a\"\n}\n", "")
	r = f.sluice(t, "", "job", "echo", "gone")
	if r.code != 1 || !strings.Contains(r.errOut, "not found") {
		t.Errorf("unknown job: exit %d stderr %q", r.code, r.errOut)
	}
	f.sluice(t, "", "jobs").check(t, 2, "", "sluice: jobs takes 1 argument, ENDPOINT (got 0)\nRun 'sluice jobs --help' for usage.\n")
}

// TestJobColumnsFit100: a row with every cell longer than its column prints
// in 100 characters.
func TestJobColumnsFit100(t *testing.T) {
	long := strings.Repeat("é", 200)
	rows := `[{"id":"` + long + `","status":"` + long + `","submittedAt":"2000-01-01T00:00:00Z","executionTime":123456789012,` +
		`"workerId":"` + long + `","error":"` + long + `"}]`
	var b strings.Builder
	if err := writeColumns(&b, json.RawMessage(rows), jobColumns); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if n := utf8.RuneCountInString(line); n > listingWidth || n < 40 {
			t.Errorf("line of %d characters, want 40 to %d: %q", n, listingWidth, line)
		}
	}
}

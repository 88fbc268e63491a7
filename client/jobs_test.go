package client_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/client"
)

// apiGolden reads a body the server's handler tests pin (internal/api/testdata).
func apiGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "internal", "api", "testdata", name+".golden"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

// TestListJobsAndJob: the listing calls send the query the server reads and
// decode the bodies it sends without losing a field.
func TestListJobsAndJob(t *testing.T) {
	list, detail := apiGolden(t, "jobs_list"), apiGolden(t, "job_detail")
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 0:
			reply(w, 200, string(list))
		case 1:
			reply(w, 200, string(detail))
		default:
			reply(w, 200, `{"n": 42}`)
		}
	})
	ep := f.client().Endpoint("echo")
	ctx := t.Context()
	p, err := ep.ListJobs(ctx, client.ListJobsQuery{Statuses: []client.Status{client.StatusFailed, client.StatusInQueue}, Limit: 2, Cursor: "YzEu"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Jobs) != 2 || p.Jobs[1].Status != client.StatusFailed || p.Jobs[1].Error != "ValueError: bad input" ||
		*p.Jobs[1].ExecutionTime != 340 || p.NextCursor == "" {
		t.Fatalf("page: %+v", p)
	}
	if again, _ := json.Marshal(p); !bytes.Equal(again, list) {
		t.Errorf("client re-encodes the page as\n%s\nserver sent\n%s", again, list)
	}
	d, err := ep.Job(ctx, "3f2c9a4e-0b1d-4c5e-8f6a-7b8c9d0e1f2a")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Attempts) != 2 || d.Attempts[0].Outcome != "WORKER_LOST" || d.Traceback == "" || d.Webhook.State != "failed" {
		t.Fatalf("detail: %+v", d)
	}
	if again, _ := json.Marshal(d); !bytes.Equal(again, detail) {
		t.Errorf("client re-encodes the detail as\n%s\nserver sent\n%s", again, detail)
	}
	in, err := ep.JobInput(ctx, "j1")
	if err != nil || string(in) != `{"n": 42}` {
		t.Fatalf("input: %s %v", in, err)
	}
	reqs := f.requests()
	if reqs[0].Path != "/v2/echo/jobs" || reqs[0].Query != "cursor=YzEu&limit=2&status=FAILED%2CIN_QUEUE" ||
		reqs[1].Path != "/v2/echo/jobs/3f2c9a4e-0b1d-4c5e-8f6a-7b8c9d0e1f2a" || reqs[2].Path != "/v2/echo/jobs/j1/input" {
		t.Fatalf("requests: %+v", reqs)
	}
}

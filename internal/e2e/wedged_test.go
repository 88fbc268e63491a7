package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// wedgedHandler is a runpod-python worker whose synchronous handler cannot
// be interrupted: a cancelled job keeps running until the sleep ends.
const wedgedHandler = `import time
import runpod


def handler(job):
    inp = job["input"]
    time.sleep(inp.get("sleep", 0))
    return {"echo": inp.get("echo")}


runpod.serverless.start({"handler": handler})
`

// TestWedgedWorkerReplaced: a runpod-python worker whose sync handler
// ignores a cancel keeps running the cancelled job. It is never counted
// idle or ready; after stopGraceSeconds it is marked unhealthy and
// restarted (SIGTERM, then SIGKILL), and the next job runs on its
// replacement. workersMax (1) is never exceeded.
func TestWedgedWorkerReplaced(t *testing.T) {
	python := testutil.RunpodPython(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "handler.py"), []byte(wedgedHandler), 0o644); err != nil {
		t.Fatal(err)
	}
	s := managedWith(t, fmt.Sprintf(`pingIntervalMs: 1000
endpoints:
  - id: py
    command: [%q, handler.py]
    dir: %q
    workersMax: 1
    idleTimeout: 60
    stopGraceSeconds: 2
`, python, dir))
	mon := watchWorkers(s, "py")
	a := s.submit(t, "py", `{"sleep": 600}`)
	st := s.waitStatus(t, "", "py", a, 60*time.Second, "IN_PROGRESS")
	wedged, _ := st["workerId"].(string)
	if r := s.do(t, "POST", "/v2/py/cancel/"+a, "", nil); r.code != 200 {
		t.Fatalf("cancel: %d %s", r.code, r.body)
	}
	b := s.submit(t, "py", `{"echo": "b"}`)

	// Until the wedged worker is gone it is never idle or ready.
	testutil.WaitFor(t, 60*time.Second, "the wedged worker to be replaced", func() bool {
		live := s.live(t, "py")
		c := s.counts(t, "py")
		for _, w := range live {
			if w.ID == wedged && (w.Status == "IDLE" || c["idle"]+c["ready"] > 0) {
				t.Fatalf("the worker still running cancelled job %s shows as idle: %+v, health %v", a, w, c)
			}
		}
		for _, w := range live {
			if w.ID == wedged {
				return false
			}
		}
		return true
	})
	done := s.waitStatus(t, "", "py", b, 60*time.Second, "COMPLETED", "FAILED")
	if done["status"] != "COMPLETED" || done["workerId"] == wedged {
		t.Errorf("the next job: %v, want COMPLETED on a replacement of %s", done, wedged)
	}
	r := s.do(t, "GET", "/v2/py/logs?worker="+wedged, "", nil)
	if !strings.Contains(string(r.body), "SIGTERM (unhealthy: still running stopped job "+a) {
		t.Errorf("the wedged worker's log lacks its SIGTERM with the reason:\n%s", r.body)
	}
	if peak, _ := mon.end(t); peak > 1 {
		t.Errorf("%d worker processes at once, workersMax is 1", peak)
	}
}

package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestImageLBWorker: a load-balancing endpoint whose workers are a
// container image (issues #15 and #16 together). The container gets PORT
// and PORT_HEALTH, a request at zero workers waits for its cold start and
// is proxied to it, and the endpoint scales back to zero leaving no
// container.
func TestImageLBWorker(t *testing.T) {
	p := testutil.NeedPodman(t)
	img := &pod{Podman: p, image: p.BuildScratch(".", "./testdata/lbworker")}
	s, sid := imageServer(t, img, "    type: LB\n    healthPort: separate\n    pull: never\n    workersMax: 1\n    idleTimeout: 1\n"+
		"    coldStartTimeoutSeconds: 60\n    env: {LB_READY_AFTER_MS: \"200\"}\n")
	mine := "sluice.server=" + sid
	if got := img.containers(mine); len(got) != 0 {
		t.Fatalf("containers before any request: %v", got)
	}

	r := s.do(t, "POST", "/lb/img/echo/x?q=1", "", []byte(`{"n": 1}`))
	if r.code != 200 {
		t.Fatalf("POST /lb/img/echo/x at zero workers: %d %s", r.code, r.body)
	}
	var e echo
	testutil.NoErr(t, json.Unmarshal(r.body, &e))
	if e.Path != "/echo/x" || e.Query != "q=1" || e.Body != `{"n": 1}` || !strings.HasPrefix(e.Worker, "img-") {
		t.Errorf("the container saw %+v", e)
	}
	if got := img.containers(mine, "sluice.worker="+e.Worker); len(got) != 1 {
		t.Errorf("containers of worker %s: %v, want its one container", e.Worker, got)
	}
	testutil.WaitFor(t, 60*time.Second, "the endpoint back at zero containers", func() bool {
		return len(img.containers(mine)) == 0
	})
}

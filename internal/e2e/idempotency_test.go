package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestIdempotentSubmit: an Idempotency-Key gives the same job from /run and
// then /runsync (bodies equal as JSON values), also after a restart; the same
// key with another body is 422, a key over 255 bytes 400.
func TestIdempotentSubmit(t *testing.T) {
	s := newRouteServer(t)
	const key = "Idempotency-Key"
	r := s.do(t, "POST", "/v2/idle/run", ck, []byte(`{"input":{"a":1,"b":[1.0,2]}}`), key, "order-17")
	if r.code != 200 {
		t.Fatalf("run: %d %s", r.code, r.body)
	}
	id := r.json(t)["id"].(string)
	r = s.do(t, "POST", "/v2/idle/runsync?wait=1000", ck, []byte(`{ "input": {"b": [1, 2e0], "a": 1} }`), key, "order-17")
	if r.code != 200 || r.hdr.Get("X-Request-Id") != id || r.json(t)["id"] != id || r.json(t)["status"] != "IN_QUEUE" {
		t.Fatalf("runsync with the same key: %d %v %s, want job %s IN_QUEUE", r.code, r.hdr, r.body, id)
	}
	r = s.do(t, "POST", "/v2/idle/run", ck, []byte(`{"input":{"a":2}}`), key, "order-17")
	if msg, _ := r.json(t)["error"].(string); r.code != 422 || !strings.Contains(msg, "different request body") || !strings.Contains(msg, key) {
		t.Fatalf("same key, other body: %d %s, want 422 naming the header", r.code, r.body)
	}
	r = s.do(t, "POST", "/v2/idle/run", ck, []byte(`{"input":{"a":1}}`), key, strings.Repeat("k", 256))
	if msg, _ := r.json(t)["error"].(string); r.code != 400 || !strings.Contains(msg, "255") {
		t.Fatalf("key of 256 bytes: %d %s, want 400", r.code, r.body)
	}
	if r = s.do(t, "POST", "/v2/idle/run", ck, []byte(`{"input":{"a":1,"b":[1,2]}}`), key, "order-18"); r.json(t)["id"] == id {
		t.Fatalf("another key gave the same job %s", id)
	}

	s.stop()
	s.start()
	r = s.do(t, "POST", "/v2/idle/run", ck, []byte(`{"input":{"b":[1,2],"a":1.0}}`), key, "order-17")
	if r.code != 200 || r.json(t)["id"] != id {
		t.Fatalf("after a restart: %d %s, want job %s", r.code, r.body, id)
	}
}

// TestRunsyncIDBeforeWait: a client that gives up on a long /runsync after
// 1 s already has the status line and the job id (X-Request-Id).
func TestRunsyncIDBeforeWait(t *testing.T) {
	s := newRouteServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", s.url+"/v2/idle/runsync?wait=60000", strings.NewReader(`{"input":{"n":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", ck)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("no response head within 1 s of a long /runsync: %v", err)
	}
	defer res.Body.Close()
	id := res.Header.Get("X-Request-Id")
	if res.StatusCode != 200 || !uuidRE.MatchString(id) {
		t.Fatalf("runsync head: %d, X-Request-Id %q", res.StatusCode, id)
	}
	if _, err := io.ReadAll(res.Body); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("body of a 60 s runsync read within 1 s: err %v", err)
	}
	st := s.waitStatus(t, ck, "idle", id, 10*time.Second, "IN_QUEUE")
	if st["id"] != id {
		t.Fatalf("status of %s: %v", id, st)
	}
}

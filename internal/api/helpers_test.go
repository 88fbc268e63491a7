package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.Main(m)
}

const (
	testClientKey = "client-key-1"
	testWorkerKey = "worker-key-ep"
)

func testKeys() Keys {
	return Keys{Client: []string{testClientKey}, Worker: map[string]string{"ep": testWorkerKey, "other": "worker-key-other"}}
}

// newTestServer serves a Handler over a fake engine on 127.0.0.1.
func newTestServer(t *testing.T, keys Keys, tweak func(*Config)) (*httptest.Server, *fakeEngine) {
	t.Helper()
	fe := newFakeEngine("ep", "other")
	cfg := Config{Engine: fe, Keys: keys, TakeHold: 300 * time.Millisecond, StopHold: 300 * time.Millisecond}
	if tweak != nil {
		tweak(&cfg)
	}
	srv := httptest.NewServer(New(cfg))
	t.Cleanup(srv.Close)
	return srv, fe
}

type reply struct {
	code   int
	header http.Header
	body   []byte
}

// call sends one request; key is sent as the Authorization header verbatim.
func call(t *testing.T, srv *httptest.Server, method, path, auth string, body []byte, hdr ...string) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{code: resp.StatusCode, header: resp.Header, body: b}
}

// transcript collects exchanges for a golden file.
type transcript struct{ bytes.Buffer }

func (tr *transcript) add(label string, r reply) {
	fmt.Fprintf(&tr.Buffer, "### %s -> %d\n%s\n", label, r.code, strings.TrimSpace(string(r.body)))
}

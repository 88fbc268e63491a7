package client

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/wire"
)

// wireGoldens are the server's bodies pinned by internal/wire's tests.
func wireGoldens(t *testing.T, prefix string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "internal", "wire", "testdata", prefix+"*.golden"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no %s golden files: %v", prefix, err)
	}
	out := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = bytes.TrimSpace(b)
	}
	return out
}

func keys(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return slices.Sorted(maps.Keys(m))
}

// TestWireSpellingMatchesServer reads every body the server's golden files
// pin with the client's types and checks that no field is lost: the
// client's JSON names are the server's, so neither side can drift alone.
func TestWireSpellingMatchesServer(t *testing.T) {
	t.Parallel()
	for name, b := range wireGoldens(t, "status_") {
		st, ok := parseStatus(b)
		if !ok {
			t.Fatalf("%s: not a job status: %s", name, b)
		}
		again, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := keys(t, again), keys(t, b); !slices.Equal(got, want) {
			t.Errorf("%s: client reads keys %v, server sends %v", name, got, want)
		}
		if !strings.Contains(string(b), `"status":"`+string(st.Status)+`"`) {
			t.Errorf("%s: status %q not as sent", name, st.Status)
		}
	}
	for name, b := range wireGoldens(t, "stream_") {
		var r streamResponse
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		_ = json.Unmarshal(b, &m)
		var chunks []json.RawMessage
		_ = json.Unmarshal(m["stream"], &chunks)
		if r.ID == "" || r.Status == "" || len(r.Stream) != len(chunks) {
			t.Errorf("%s: read as %+v", name, r)
		}
	}
	for name, v := range map[string]any{"health.golden": &Health{}, "health_waiting.golden": &Health{}, "purge.golden": &PurgeResult{}, "endpoints.golden": &EndpointList{}} {
		b := wireGoldens(t, strings.TrimSuffix(name, ".golden"))[name]
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Errorf("%s: client type re-encodes %s, server sends %s", name, again, b)
		}
	}
}

// TestStatusSpellingMatchesServer: the client's state constants are the
// server's (internal/wire), and Terminal agrees.
func TestStatusSpellingMatchesServer(t *testing.T) {
	t.Parallel()
	for c, w := range map[Status]wire.Status{StatusInQueue: wire.StatusInQueue, StatusInProgress: wire.StatusInProgress,
		StatusCompleted: wire.StatusCompleted, StatusFailed: wire.StatusFailed, StatusCancelled: wire.StatusCancelled,
		StatusTimedOut: wire.StatusTimedOut} {
		if string(c) != string(w) || c.Terminal() != w.Terminal() {
			t.Errorf("client %q (terminal %v), server %q (terminal %v)", c, c.Terminal(), w, w.Terminal())
		}
	}
}

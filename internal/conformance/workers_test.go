package conformance

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// twins runs check against the Python endpoint and its Go twin (prefix
// "py-" and "go-" before kind) and requires both to give the same
// client-visible result, which must also equal want when want is non-nil.
func twins(t *testing.T, p *platform, kind string, want any, check func(t *testing.T, ep string) any) {
	t.Helper()
	results := make(map[string]string, 2)
	var mu sync.Mutex
	// The two run in parallel inside "run", which returns only once both
	// have finished, so the comparison below sees both results.
	t.Run("run", func(t *testing.T) {
		for _, lang := range []string{"py", "go"} {
			ep := lang + "-" + kind
			t.Run(lang, func(t *testing.T) {
				t.Parallel()
				got := mustJSON(t, check(t, ep))
				if want != nil && got != mustJSON(t, want) {
					t.Errorf("%s: got %s, want %s", ep, got, mustJSON(t, want))
				}
				mu.Lock()
				results[lang] = got
				mu.Unlock()
			})
		}
	})
	t.Run("same", func(t *testing.T) {
		if len(results) != 2 {
			t.Fatalf("only %d of the 2 workers gave a result: %v", len(results), results)
		}
		if results["py"] != results["go"] {
			t.Errorf("Python and Go workers differ:\npy: %s\ngo: %s", results["py"], results["go"])
		}
	})
}

// TestWorkers runs every runpod-python handler kind as a Sluice worker, with
// no code change, next to its Go SDK twin.
func TestWorkers(t *testing.T) {
	needVenv(t)
	p := startPlatform(t)

	t.Run("sync handler", func(t *testing.T) {
		twins(t, p, "echo", map[string]any{"status": "COMPLETED", "output": map[string]any{"echo": map[string]any{"a": 1.0, "s": "é"}}},
			func(t *testing.T, ep string) any {
				st := p.call(t, http.MethodPost, "/v2/"+ep+"/runsync", map[string]any{"input": map[string]any{"echo": map[string]any{"a": 1, "s": "é"}}})
				if st["status"] != "COMPLETED" {
					st = p.wait(t, ep, st["id"].(string))
				}
				return map[string]any{"status": st["status"], "output": st["output"]}
			})
	})

	t.Run("returned error", func(t *testing.T) {
		twins(t, p, "echo", map[string]any{"status": "FAILED", "error": "bad input", "hasOutput": false},
			func(t *testing.T, ep string) any {
				st := p.wait(t, ep, p.run(t, ep, map[string]any{"error": "bad input"}))
				_, hasOutput := st["output"]
				return map[string]any{"status": st["status"], "error": st["error"], "hasOutput": hasOutput}
			})
	})

	t.Run("raised exception", func(t *testing.T) {
		twins(t, p, "echo", map[string]any{"status": "FAILED", "error_message": "boom", "keys": []any{"error_message", "error_traceback", "error_type", "hostname", "runpod_version", "worker_id"}},
			func(t *testing.T, ep string) any {
				st := p.wait(t, ep, p.run(t, ep, map[string]any{"fail": "boom"}))
				s, ok := st["error"].(string)
				if !ok {
					t.Fatalf("error is not a string: %v", st)
				}
				var e map[string]any
				if err := json.Unmarshal([]byte(s), &e); err != nil {
					t.Fatalf("error is not a JSON-encoded object: %q", s)
				}
				if tb, _ := e["error_traceback"].(string); tb == "" {
					t.Errorf("error_traceback is empty: %v", e)
				}
				var keys []any
				for _, k := range []string{"error_message", "error_traceback", "error_type", "hostname", "runpod_version", "worker_id"} {
					if _, ok := e[k]; ok {
						keys = append(keys, k)
					}
				}
				return map[string]any{"status": st["status"], "error_message": e["error_message"], "keys": keys}
			})
	})

	// One update: runpod-python sends each update from its own thread, so
	// the order of several is not defined there (the Go SDK's is).
	t.Run("progress_update", func(t *testing.T) {
		twins(t, p, "echo", map[string]any{"progress": map[string]any{"step": 1.0}, "status": "COMPLETED", "output": map[string]any{"echo": "done"}},
			func(t *testing.T, ep string) any {
				id := p.run(t, ep, map[string]any{"progress": 1, "sleep": 3, "echo": "done"})
				var progress any
				testutil.WaitFor(t, 60*time.Second, "the progress update shows in /status", func() bool {
					st := p.call(t, http.MethodGet, "/v2/"+ep+"/status/"+id, nil)
					if st["status"] == "IN_PROGRESS" && mustJSON(t, st["output"]) == `{"step":1}` {
						progress = st["output"]
						return true
					}
					if terminal(st["status"]) {
						t.Fatalf("job finished before its progress was seen: %v", st)
					}
					return false
				})
				st := p.wait(t, ep, id)
				return map[string]any{"progress": progress, "status": st["status"], "output": st["output"]}
			})
	})

	t.Run("refresh_worker", func(t *testing.T) {
		twins(t, p, "echo", map[string]any{"output": map[string]any{"echo": 1.0}, "replaced": true},
			func(t *testing.T, ep string) any {
				first := p.wait(t, ep, p.run(t, ep, map[string]any{"refresh": true, "echo": 1}))
				second := p.wait(t, ep, p.run(t, ep, map[string]any{"echo": 2}))
				w1, _ := first["workerId"].(string)
				w2, _ := second["workerId"].(string)
				if w1 == "" || w2 == "" {
					t.Fatalf("no workerId in %v / %v", first, second)
				}
				return map[string]any{"output": first["output"], "replaced": w1 != w2}
			})
	})

	// Without return_aggregate_stream, /status of a generator job carries
	// no output (Runpod's behaviour): the chunks are only in /stream.
	t.Run("generator", func(t *testing.T) {
		chunks := []any{map[string]any{"chunk": 0.0}, map[string]any{"chunk": 1.0}, map[string]any{"chunk": 2.0}}
		twins(t, p, "stream", map[string]any{"chunks": chunks, "status": "COMPLETED", "output": nil},
			func(t *testing.T, ep string) any {
				id := p.run(t, ep, map[string]any{"n": 3})
				got, status := p.streamAll(t, ep, id)
				st := p.call(t, http.MethodGet, "/v2/"+ep+"/status/"+id, nil)
				return map[string]any{"chunks": got, "status": status, "output": st["output"]}
			})
	})

	t.Run("generator aggregate", func(t *testing.T) {
		chunks := []any{map[string]any{"chunk": 0.0}, map[string]any{"chunk": 1.0}}
		twins(t, p, "stream-agg", map[string]any{"chunks": chunks, "status": "COMPLETED", "output": chunks},
			func(t *testing.T, ep string) any {
				id := p.run(t, ep, map[string]any{"n": 2})
				got, status := p.streamAll(t, ep, id)
				st := p.call(t, http.MethodGet, "/v2/"+ep+"/status/"+id, nil)
				return map[string]any{"chunks": got, "status": status, "output": st["output"]}
			})
	})

	t.Run("async generator with concurrency 4", func(t *testing.T) {
		twins(t, p, "async", map[string]any{"together": 4.0, "outputs": []any{
			[]any{map[string]any{"chunk": 0.0}}, []any{map[string]any{"chunk": 0.0}},
			[]any{map[string]any{"chunk": 0.0}}, []any{map[string]any{"chunk": 0.0}},
		}}, func(t *testing.T, ep string) any {
			// Warm the single worker up so all four jobs meet one live worker.
			p.wait(t, ep, p.run(t, ep, map[string]any{"n": 1}))
			ids := make([]string, 4)
			for i := range ids {
				ids[i] = p.run(t, ep, map[string]any{"n": 1, "sleep": 4})
			}
			most := 0
			testutil.WaitFor(t, 60*time.Second, "the four jobs are in progress at once on one worker", func() bool {
				running := 0
				for _, id := range ids {
					st := p.call(t, http.MethodGet, "/v2/"+ep+"/status/"+id, nil)
					if st["status"] == "IN_PROGRESS" {
						running++
					}
				}
				most = max(most, running)
				return running == len(ids)
			})
			var outputs []any
			for _, id := range ids {
				outputs = append(outputs, p.wait(t, ep, id)["output"])
			}
			return map[string]any{"together": float64(most), "outputs": outputs}
		})
	})

	t.Run("cancel while running", func(t *testing.T) {
		twins(t, p, "async", map[string]any{"status": "CANCELLED", "next": "COMPLETED"},
			func(t *testing.T, ep string) any {
				id := p.run(t, ep, map[string]any{"n": 1, "sleep": 600})
				testutil.WaitFor(t, 60*time.Second, "the long job runs", func() bool {
					return p.call(t, http.MethodGet, "/v2/"+ep+"/status/"+id, nil)["status"] == "IN_PROGRESS"
				})
				p.call(t, http.MethodPost, "/v2/"+ep+"/cancel/"+id, nil)
				// The worker must drop the job (job-stop): its in-progress
				// set, reported by its pings, no longer holds the job.
				testutil.WaitFor(t, 60*time.Second, "the worker no longer holds the cancelled job", func() bool {
					var workers []map[string]any
					raw := p.call(t, http.MethodGet, "/v2/"+ep+"/workers", nil)
					b, _ := json.Marshal(raw["workers"])
					_ = json.Unmarshal(b, &workers)
					for _, w := range workers {
						if strings.Contains(mustJSON(t, w["jobs"]), id) {
							return false
						}
					}
					return true
				})
				st := p.call(t, http.MethodGet, "/v2/"+ep+"/status/"+id, nil)
				next := p.wait(t, ep, p.run(t, ep, map[string]any{"n": 1}))
				return map[string]any{"status": st["status"], "next": next["status"]}
			})
	})
}

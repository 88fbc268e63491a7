// Package e2e tests the real sluice binary with real serverless workers:
// every route, state and promise of `sluice serve`, over loopback HTTP.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// bins are the binaries built once by TestMain.
var bins struct{ sluice, worker, lbworker string }

func TestMain(m *testing.M) {
	flag.Parse()
	testutil.MainWith(m, func() (func(), error) {
		dir, err := os.MkdirTemp("", "sluice-e2e-")
		if err != nil {
			return nil, err
		}
		cleanup := func() { _ = os.RemoveAll(dir) }
		const sluicePkg, workerPkg = "github.com/sluicehq/sluice/cmd/sluice", "github.com/sluicehq/sluice/internal/e2e/testdata/worker"
		const lbWorkerPkg = "github.com/sluicehq/sluice/internal/e2e/testdata/lbworker" // #16
		built, err := testutil.BuildBinaries(dir, sluicePkg, workerPkg, lbWorkerPkg)
		if err != nil {
			return cleanup, err
		}
		bins.sluice, bins.worker, bins.lbworker = built[sluicePkg], built[workerPkg], built[lbWorkerPkg]
		return cleanup, nil
	})
}

// freeAddr returns a loopback address with a port free right now, so a
// restarted server can come back on the same address.
func freeAddr(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
}

// server is one `sluice serve` process.
type server struct {
	t       *testing.T
	url     string
	addr    string
	dataDir string
	args    []string
	env     []string
	cmd     *exec.Cmd
	log     *testutil.Buffer
	done    chan struct{}
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

var addrRE = regexp.MustCompile(`addr=http://(127\.0\.0\.1:\d+)`)

// startServer runs `sluice serve` on addr (a free loopback port when empty)
// with dataDir and extra args, and waits until it serves.
func startServer(t *testing.T, addr, dataDir string, env []string, args ...string) *server {
	t.Helper()
	if addr == "" {
		addr = freeAddr(t)
	}
	s := &server{t: t, addr: addr, dataDir: dataDir, args: args, env: env}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	t := s.t
	t.Helper()
	all := append([]string{"serve", "--addr", s.addr, "--data-dir", s.dataDir}, s.args...)
	s.cmd = exec.Command(bins.sluice, all...)
	s.cmd.Env = append(os.Environ(), s.env...)
	if s.log == nil {
		s.log = &testutil.Buffer{} // kept across restarts: one log for the test
	}
	logBuf := s.log
	pr, pw := io.Pipe()
	s.cmd.Stderr = pw
	s.cmd.Stdout = logBuf
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = logBuf.Write([]byte(line + "\n"))
			if m := addrRE.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		_ = s.cmd.Wait()
		pw.Close()
		close(s.done)
	}()
	select {
	case a := <-ready:
		s.url = "http://" + a
	case <-s.done:
		t.Fatalf("sluice serve exited before serving:\n%s", s.log.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("sluice serve did not start within 60s:\n%s", s.log.String())
	}
}

// stop ends the server with SIGTERM (SIGKILL after 20 s).
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			s.t.Errorf("sluice serve exited with code %d after SIGTERM, want 0", code)
		}
	case <-time.After(20 * time.Second):
		s.t.Errorf("sluice serve did not stop within 20s of SIGTERM; killing it")
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	if s.t.Failed() {
		s.t.Logf("server log:\n%s", s.log.String())
	}
}

// kill9 kills the server with SIGKILL and waits for it to be gone.
func (s *server) kill9() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// workerEnv runs `sluice worker-env --format env` and returns its KEY=value lines.
func (s *server) workerEnv(t *testing.T, endpoint, workerID string, extra ...string) []string {
	t.Helper()
	args := append([]string{"worker-env", endpoint, "--format", "env", "--addr", s.addr, "--data-dir", s.dataDir, "--worker-id", workerID}, extra...)
	cmd := exec.Command(bins.sluice, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("worker-env: %v: %s", err, stderr.String())
	}
	var env []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if k, _, ok := strings.Cut(line, "="); !ok || k == "" || strings.ContainsAny(k, " '") {
			t.Fatalf("worker-env line %q is not KEY=value", line)
		}
		env = append(env, line)
	}
	return env
}

// worker is one worker process.
type worker struct {
	id   string
	cmd  *exec.Cmd
	log  *testutil.Buffer
	done chan struct{}
}

// startWorker runs the test worker for endpoint with the env worker-env prints.
func (s *server) startWorker(t *testing.T, endpoint, workerID string, extraEnv []string, envArgs ...string) *worker {
	t.Helper()
	w := &worker{id: workerID, log: &testutil.Buffer{}, done: make(chan struct{})}
	w.cmd = exec.Command(bins.worker)
	w.cmd.Env = append(append(os.Environ(), s.workerEnv(t, endpoint, workerID, envArgs...)...), extraEnv...)
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = w.cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(5 * time.Second):
			_ = w.cmd.Process.Kill()
			<-w.done
		}
		if t.Failed() {
			t.Logf("worker %s log (tail):\n%s", w.id, tail(w.log.String(), 3000))
		}
	})
	return w
}

func (w *worker) kill9() {
	_ = w.cmd.Process.Kill()
	<-w.done
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// resp is an HTTP answer.
type resp struct {
	code int
	body []byte
	hdr  http.Header
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %q", tail(string(r.body), 300))
	}
	return m
}

var httpClient = &http.Client{Timeout: 5 * time.Minute}

// do sends a request to the server with auth as the Authorization header.
func (s *server) do(t *testing.T, method, path, auth string, body []byte, hdr ...string) resp {
	t.Helper()
	r, err := s.try(method, path, auth, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (s *server) try(method, path, auth string, body []byte, hdr ...string) (resp, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, rd)
	if err != nil {
		return resp{}, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	return resp{code: res.StatusCode, body: b, hdr: res.Header}, nil
}

// waitStatus polls /status until the job has one of want and returns it.
func (s *server) waitStatus(t *testing.T, auth, ep, id string, timeout time.Duration, want ...string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := s.do(t, "GET", "/v2/"+ep+"/status/"+id, auth, nil)
		if r.code != 200 {
			t.Fatalf("status %s: %d %s", id, r.code, r.body)
		}
		last := r.json(t)
		for _, w := range want {
			if last["status"] == w {
				return last
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not %v within %v; last status: %s", id, want, timeout, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shape normalizes a response for golden files: ids, worker ids and times
// are replaced by placeholders, keys stay sorted.
func shape(t *testing.T, body []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return "non-JSON: " + string(body)
	}
	var norm func(any) any
	norm = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				switch k {
				case "id":
					if s, ok := e.(string); ok && strings.HasPrefix(s, "sync-") {
						x[k] = "sync-<id>"
					} else {
						x[k] = "<id>"
					}
				case "delayTime", "executionTime":
					x[k] = "<ms>"
				case "workerId", "worker":
					x[k] = "<worker>"
				case "error":
					// A handler exception's error is a JSON string with a traceback.
					if s, ok := e.(string); ok && strings.HasPrefix(s, "{") {
						var p map[string]any
						if json.Unmarshal([]byte(s), &p) == nil {
							x[k] = fmt.Sprintf("<error payload: error_type, error_message=%v, ...>", p["error_message"])
						}
					}
				default:
					x[k] = norm(e)
				}
			}
		case []any:
			for i := range x {
				x[i] = norm(x[i])
			}
		}
		return v
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(norm(v)); err != nil {
		t.Fatal(err)
	}
	return uuidRE.ReplaceAllString(strings.TrimSpace(b.String()), "<uuid>")
}

type golden struct{ bytes.Buffer }

func (g *golden) add(t *testing.T, label string, r resp) {
	t.Helper()
	fmt.Fprintf(&g.Buffer, "### %s -> %d\n%s\n", label, r.code, shape(t, r.body))
}

func (g *golden) check(t *testing.T, name string) {
	t.Helper()
	testutil.Golden(t, name, g.Bytes())
}

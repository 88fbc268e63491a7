package scaler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/logs"
	"github.com/sluicehq/sluice/internal/wire"
)

// worker is one worker process.
type worker struct {
	id      string
	ep      *endpoint
	version string
	cmd     *exec.Cmd
	pid     int
	gpus    []string
	started time.Time
	// port and healthPort are PORT and PORT_HEALTH of a worker of a
	// load-balancing endpoint (lb.go); 0 otherwise.
	port, healthPort int

	seen      bool      // the engine has listed it (it took a job or pinged)
	lastSeen  time.Time // last evaluation that found it in the engine's list
	jobs      []string  // jobs it held at the last evaluation
	idleSince time.Time // since when it holds no job (zero while busy)
	// stopping are stopped jobs (cancelled, timed out) it still runs, seen
	// first at stoppingSince: busy, and unhealthy after the stop grace.
	stopping      []string
	stoppingSince time.Time

	drain  bool   // wanted gone: SIGTERM once it holds no job
	reason string // why it is drained or killed
	termAt time.Time
	killed bool
	// killAfter, when set, replaces Config.StopGrace as the wait between
	// SIGTERM and SIGKILL (a wedged worker gets its endpoint's stop grace).
	killAfter time.Duration

	done       chan struct{} // closed when the process has exited
	oomAtStart int           // OOM kills in Sluice's cgroup when it started; -1: unknown
	exitErr    error
	exitedAt   time.Time
	stdout     *logs.LineWriter
	stderr     *logs.LineWriter
	ctr        *container // an image worker's container (container.go)
}

// newWorkerID returns a unique RUNPOD_POD_ID.
func newWorkerID(endpoint string) string {
	var b [6]byte
	rand.Read(b[:])
	return endpoint + "-" + hex.EncodeToString(b[:])
}

// env builds a worker's environment: the base env, the endpoint's env, then
// the variables Sluice sets (later entries win in os/exec).
func (s *Supervisor) env(ep *endpoint, id string, gpus []string) []string {
	e := &ep.cfg
	key := e.WorkerKey
	if key == "" {
		key = s.cfg.WorkerKey
	}
	env := make([]string, 0, len(s.cfg.Env)+len(e.Env)+16)
	env = append(env, s.cfg.Env...)
	hasUnbuffered := false
	for _, kv := range env {
		if strings.HasPrefix(kv, "PYTHONUNBUFFERED=") {
			hasUnbuffered = true
		}
	}
	for k, v := range e.Env {
		env = append(env, k+"="+v)
		if k == "PYTHONUNBUFFERED" {
			hasUnbuffered = true
		}
	}
	if !hasUnbuffered { // Python workers' logs appear as they are printed
		env = append(env, "PYTHONUNBUFFERED=1")
	}
	env = append(env, wire.WorkerEnv{BaseURL: s.cfg.BaseURL, Endpoint: e.ID, Key: key,
		WorkerID: id, PingIntervalMs: s.cfg.PingInterval.Milliseconds()}.Environ()...)
	env = append(env,
		wire.EnvPodHostname+"="+s.host,
		wire.EnvGPUCount+"="+strconv.Itoa(len(gpus)),
	)
	if len(gpus) > 0 {
		env = append(env, "CUDA_VISIBLE_DEVICES="+strings.Join(gpus, ","))
	}
	return env
}

// start starts one worker of ep with the given GPUs. Called with s.mu held.
// A start failure counts as a crash.
func (s *Supervisor) start(ep *endpoint, gpus []string) {
	e := &ep.cfg
	id := newWorkerID(e.ID)
	now := time.Now()
	w := &worker{id: id, ep: ep, version: ep.version, gpus: gpus, started: now, done: make(chan struct{}), oomAtStart: oomKills()}
	w.stdout = s.logs.Writer(e.ID, id, logs.StreamStdout)
	w.stderr = s.logs.Writer(e.ID, id, logs.StreamStderr)
	port, health, portEnv, perr := lbPorts(e)
	w.port, w.healthPort = port, health
	var cmd *exec.Cmd
	if e.IsImage() {
		cmd = s.containerCmd(w, portEnv)
	} else {
		cmd = exec.Command(e.Command[0], e.Command[1:]...)
		cmd.Dir = e.Dir
		cmd.Env = append(s.env(ep, id, gpus), portEnv...)
	}
	cmd.Stdout, cmd.Stderr = w.stdout, w.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Output copying ends at most this long after exit, even if a grandchild
	// keeps the pipes open.
	cmd.WaitDelay = 2 * time.Second
	w.cmd = cmd
	ep.lastStart = now
	for _, g := range gpus {
		s.gpus[g] = id
	}
	s.observeStart(e.ID)
	err := checkDir(cmd.Dir)
	if err == nil {
		err = perr
	}
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		for _, g := range gpus {
			delete(s.gpus, g)
		}
		w.exitErr, w.exitedAt = fmt.Errorf("start %q in %s: %w", cmd.Args[0], e.Dir, err), now
		close(w.done)
		s.system(e.ID, id, fmt.Sprintf("worker %s failed to start: %v", id, w.exitErr))
		s.crashed(ep, w, nil)
		s.observeExit(e.ID, ExitCrash)
		return
	}
	w.pid = cmd.Process.Pid
	ep.workers[id] = w
	msg := fmt.Sprintf("worker %s started (pid %d)", id, w.pid)
	if w.ctr != nil {
		msg += fmt.Sprintf(", container %s of %s", w.ctr.name, e.Image)
	}
	if len(gpus) > 0 {
		msg += ", GPUs " + strings.Join(gpus, ",")
	}
	if w.port > 0 {
		msg += fmt.Sprintf(", PORT %d, PORT_HEALTH %d", w.port, w.healthPort)
	}
	s.system(e.ID, id, msg)
	s.log.Info("worker started", attrEndpoint, e.ID, attrWorker, id, attrPID, w.pid, attrGPUs, gpus)
	s.lbStarted(ep, w)
	s.wg.Add(1)
	go s.watch(w)
}

// checkDir reports a missing working directory clearly (os/exec would blame
// the program instead).
func checkDir(dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("working directory %s is not a directory", dir)
	}
	return nil
}

// watch waits for w's process to exit and updates the state.
func (s *Supervisor) watch(w *worker) {
	defer s.wg.Done()
	err := w.cmd.Wait()
	// Whatever the worker left behind in its process group goes with it, so
	// no orphan keeps taking jobs or holding GPUs.
	if kerr := syscall.Kill(-w.pid, syscall.SIGKILL); kerr == nil {
		s.log.Info("killed processes left behind by a worker", attrEndpoint, w.ep.cfg.ID, attrWorker, w.id)
	}
	if w.ctr != nil {
		s.removeContainer(w)
	}
	w.stdout.Close()
	w.stderr.Close()
	var tail []string
	if recs, rerr := s.logs.Read(context.Background(), logs.Filter{Endpoint: w.ep.cfg.ID, Worker: w.id, Tail: crashLogLines}); rerr == nil {
		for _, r := range recs {
			if r.Stream != logs.StreamSystem {
				tail = append(tail, r.Line)
			}
		}
	}
	s.mu.Lock()
	w.exitErr = err
	why := exitCause(w)
	lc, ok := s.lifecycle(w)
	s.mu.Unlock()
	if ok {
		// At once, not when its pings time out: its jobs go back to the queue.
		ctx, cancel := context.WithTimeout(context.Background(), DefaultCallTimeout)
		if lerr := lc.WorkerExited(ctx, w.ep.cfg.ID, w.id, why); lerr != nil {
			s.log.Warn("tell the engine a worker exited", attrEndpoint, w.ep.cfg.ID, attrWorker, w.id, attrErr, lerr)
		}
		cancel()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	ep := w.ep
	w.exitErr, w.exitedAt = err, time.Now()
	close(w.done)
	delete(ep.workers, w.id)
	s.forget(w.id, w.exitedAt)
	for _, g := range w.gpus {
		if s.gpus[g] == w.id {
			delete(s.gpus, g)
		}
	}
	status := describeExit(err, w.oomAtStart)
	expected := w.drain || s.stopping
	// A worker that exits on its own with code 0 after it was seen is a
	// refresh (runpod-python's refresh_worker): replaced, not a crash.
	crash := !expected && (err != nil || !w.seen)
	switch {
	case crash:
		s.system(ep.cfg.ID, w.id, fmt.Sprintf("worker %s crashed: %s", w.id, status))
		s.crashed(ep, w, tail)
	case w.killed:
		s.system(ep.cfg.ID, w.id, fmt.Sprintf("worker %s killed (%s): %s", w.id, w.reason, status))
	default:
		reason := w.reason
		if reason == "" {
			reason = "exited by itself"
		}
		s.system(ep.cfg.ID, w.id, fmt.Sprintf("worker %s stopped (%s): %s", w.id, reason, status))
	}
	s.log.Info("worker exited", attrEndpoint, ep.cfg.ID, attrWorker, w.id, attrStatus, status, attrCrash, crash, attrReason, w.reason)
	s.observeExit(ep.cfg.ID, s.exitReason(w, crash))
	if ep.removed && len(ep.workers) == 0 && s.endpoints[ep.cfg.ID] == ep {
		delete(s.endpoints, ep.cfg.ID)
	}
	s.pending[ep.cfg.ID] = true
	s.poke()
}

// crashed records a crash of w and sets the back-off. Called with s.mu held.
func (s *Supervisor) crashed(ep *endpoint, w *worker, tail []string) {
	ep.crashStreak++
	ep.backoffUntil = time.Now().Add(backoff(ep.crashStreak, s.cfg.CrashBackoff, s.cfg.MaxCrashBackoff))
	exit := "exited with status 0 before it took a job or pinged"
	switch {
	case w.pid == 0 && w.exitErr != nil: // never started
		exit = w.exitErr.Error()
	case w.exitErr != nil:
		exit = describeExit(w.exitErr, w.oomAtStart)
	}
	if why := fitnessFailure(tail); why != "" {
		exit += ": " + why
	}
	if why := runtimeFailure(w, tail); why != "" {
		exit += ": " + why
	}
	if w.reason != "" && w.killed {
		exit = w.reason + ": " + exit
	}
	ep.lastExit, ep.lastLines = exit, tail
	info := w.info(StatusUnhealthy)
	info.Exit, info.LogTail = exit, tail
	ep.crashed = append(ep.crashed, info)
	if len(ep.crashed) > maxCrashRecords {
		ep.crashed = ep.crashed[len(ep.crashed)-maxCrashRecords:]
	}
	if ep.crashStreak >= s.cfg.UnhealthyAfter {
		s.log.Warn("endpoint workers keep crashing", attrEndpoint, ep.cfg.ID, attrCrashes, ep.crashStreak, attrExit, exit)
	}
}

// terminate sends SIGTERM to w's process group. Called with s.mu held.
func (s *Supervisor) terminate(w *worker) {
	if w.exited() || !w.termAt.IsZero() {
		return
	}
	if lc, ok := s.lifecycle(w); ok {
		// Best effort and quick; the worker API must not give it a new job.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := lc.WorkerDraining(ctx, w.ep.cfg.ID, w.id); err != nil {
			s.log.Warn("tell the engine a worker drains", attrEndpoint, w.ep.cfg.ID, attrWorker, w.id, attrErr, err)
		}
		cancel()
	}
	w.termAt = time.Now()
	s.system(w.ep.cfg.ID, w.id, fmt.Sprintf("worker %s: SIGTERM (%s)", w.id, w.reason))
	// Like `docker stop`, SIGTERM goes to the worker process only, so helper
	// processes (runpod-python's heartbeat) keep running while it drains.
	if err := syscall.Kill(w.pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		s.log.Warn("SIGTERM worker", attrEndpoint, w.ep.cfg.ID, attrWorker, w.id, attrErr, err)
	}
}

// kill sends SIGKILL to w's process group. Called with s.mu held.
func (s *Supervisor) kill(w *worker, reason string) {
	if w.exited() || w.killed {
		return
	}
	w.killed = true
	if w.reason == "" || !w.drain {
		w.reason = reason
	}
	s.system(w.ep.cfg.ID, w.id, fmt.Sprintf("worker %s: SIGKILL (%s)", w.id, reason))
	if err := syscall.Kill(-w.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		s.log.Warn("SIGKILL worker", attrEndpoint, w.ep.cfg.ID, attrWorker, w.id, attrErr, err)
	}
}

func (w *worker) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// system writes a lifecycle line to the endpoint's log.
func (s *Supervisor) system(endpoint, worker, line string) {
	if err := s.logs.Append(logs.Record{Endpoint: endpoint, Worker: worker, Stream: logs.StreamSystem, Line: line}); err != nil && !errors.Is(err, logs.ErrClosed) {
		s.log.Warn("write worker log", attrEndpoint, endpoint, attrErr, err)
	}
}

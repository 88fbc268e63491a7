package scaler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/config"
)

// Image workers: each worker of an endpoint with an image is one container,
// run in the foreground by the runtime's CLI (`podman run --rm ...`), which
// is the worker's process as far as the rest of the supervisor goes:
//
//   - its stdout and stderr are the container's (and the image pull's), so
//     logs are captured as for any worker;
//   - SIGTERM to it is forwarded to the container (the CLI's --sig-proxy,
//     on by default), so a stop is SIGTERM, grace, then SIGKILL as usual;
//   - once it has exited, for whatever reason (a SIGKILL to the CLI leaves
//     its container running), the container is removed by name (`rm
//     --force`), so the worker's container is surely gone when the worker
//     counts as exited;
//   - containers carry labels naming the endpoint, the worker and the
//     server (Config.ServerID): at start, Run removes those a server with
//     the same id left behind (after a kill -9) before starting any worker,
//     and at shutdown any of its own still there.

// Container labels.
const (
	LabelEndpoint = "sluice.endpoint"
	LabelWorker   = "sluice.worker"
	LabelServer   = "sluice.server"
)

// Timeouts of runtime calls other than run.
const (
	runtimeInfoTimeout   = 30 * time.Second
	runtimeRemoveTimeout = 60 * time.Second
)

// runtimeFailedStatus is the exit status of `docker run` and `podman run`
// when they fail themselves (a failed pull, a bad flag), not the container.
const runtimeFailedStatus = 125

// attrContainer is the log attribute key of a container name.
const attrContainer = "container"

// container is how an image worker's container is named and removed.
type container struct {
	name    string
	kind    string   // config.RuntimeDocker or config.RuntimePodman
	runtime []string // the runtime program and its global flags
	env     []string // the runtime's environment (Config.Env)
}

// containerName is the name of worker id's container.
func containerName(workerID string) string { return "sluice-" + workerID }

// runSpec is everything the run command of one container depends on.
type runSpec struct {
	Endpoint *config.Endpoint // validated, its Runtime resolved
	Worker   string
	Server   string
	// Env are the names of the variables the container gets from the
	// runtime CLI's environment (`-e NAME`: no value on the command line).
	Env  []string
	GPUs []string
	// LBPorts are an LB worker's PORT and PORT_HEALTH, published on the
	// host's loopback when the container has a network of its own.
	LBPorts []int
}

// args returns the runtime's arguments: global flags, run and its flags,
// the image and the command.
func (r runSpec) args() []string {
	e := r.Endpoint
	a := slices.Clone(e.RuntimeArgs)
	a = append(a, "run", "--rm", "--name", containerName(r.Worker),
		"--label", LabelEndpoint+"="+e.ID, "--label", LabelWorker+"="+r.Worker, "--label", LabelServer+"="+r.Server,
		"--pull", e.Pull)
	if setsNetwork(e.RunArgs) {
		for _, p := range e.Ports {
			a = append(a, "--publish", strconv.Itoa(p)+":"+strconv.Itoa(p))
		}
		for _, p := range slices.Compact(slices.Clone(r.LBPorts)) {
			a = append(a, "--publish", "127.0.0.1:"+strconv.Itoa(p)+":"+strconv.Itoa(p))
		}
		if e.Runtime == config.RuntimeDocker { // Podman adds its name itself
			a = append(a, "--add-host", hostGateway[config.RuntimeDocker]+":host-gateway")
		}
	} else {
		// Host networking: the worker API is where it is for the host.
		a = append(a, "--network", "host")
	}
	for _, n := range r.Env {
		a = append(a, "--env", n)
	}
	if len(r.GPUs) > 0 {
		if e.Runtime == config.RuntimeDocker {
			// The quotes keep the comma in the value (--gpus is CSV).
			a = append(a, "--gpus", `"device=`+strings.Join(r.GPUs, ",")+`"`)
		} else {
			for _, g := range r.GPUs { // CDI (nvidia-ctk cdi generate)
				a = append(a, "--device", "nvidia.com/gpu="+g)
			}
		}
	}
	for _, v := range e.Volumes {
		a = append(a, "--volume", v)
	}
	if e.NetworkVolume != "" {
		a = append(a, "--volume", e.NetworkVolume+":"+config.NetworkVolumePath)
	}
	if e.ShmSize > 0 {
		a = append(a, "--shm-size", strconv.FormatInt(int64(e.ShmSize), 10))
	}
	if len(e.Command) > 0 {
		a = append(a, "--entrypoint", e.Command[0])
	}
	a = append(a, e.RunArgs...)
	a = append(a, e.Image)
	if len(e.Command) > 1 {
		a = append(a, e.Command[1:]...)
	}
	return append(a, e.Args...)
}

// setsNetwork reports whether run flags choose the network themselves.
func setsNetwork(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool {
		name, _, _ := strings.Cut(a, "=")
		return name == "--network" || name == "--net"
	})
}

// hostGateway is the name of the host in a container on another network
// than the host's, by runtime.
var hostGateway = map[string]string{config.RuntimeDocker: "host.docker.internal", config.RuntimePodman: "host.containers.internal"}

// onHostGateway rewrites the worker API URLs in env (KEY=value) for a
// container on its own network: the host of base (the address the server
// gives workers on the host) becomes the runtime's name for the host.
func onHostGateway(env []string, base, runtime string) []string {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return env
	}
	to := *u
	to.Host = hostGateway[runtime]
	if p := u.Port(); p != "" {
		to.Host = net.JoinHostPort(to.Host, p)
	}
	out := make([]string, len(env))
	for i, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if rest, ok := strings.CutPrefix(v, base+"/"); ok {
			kv = k + "=" + to.String() + "/" + rest
		}
		out[i] = kv
	}
	return out
}

// gpuEnv is the GPU environment of a container given host devices gpus:
// NVIDIA_VISIBLE_DEVICES names them as the host does, CUDA_VISIBLE_DEVICES
// as the container sees them (renumbered from 0, unless they are UUIDs).
func gpuEnv(gpus []string) []string {
	if len(gpus) == 0 {
		return nil
	}
	local := make([]string, len(gpus))
	for i, g := range gpus {
		local[i] = strconv.Itoa(i)
		if strings.HasPrefix(g, "GPU-") || strings.HasPrefix(g, "MIG-") {
			local[i] = g
		}
	}
	return []string{"CUDA_VISIBLE_DEVICES=" + strings.Join(local, ","), "NVIDIA_VISIBLE_DEVICES=" + strings.Join(gpus, ",")}
}

// containerCmd returns the command that runs w's container and sets w.ctr.
// The container's environment is what Sluice and the endpoint set (not
// Sluice's own environment), passed by name from the CLI's environment so
// that keys never show on a command line. Called with s.mu held.
func (s *Supervisor) containerCmd(w *worker, extraEnv []string) *exec.Cmd {
	e := &w.ep.cfg
	env := s.env(w.ep, w.id, w.gpus)
	own := slices.Clone(env[len(s.cfg.Env):]) // env appends to the base env
	if _, ok := e.Env["PYTHONUNBUFFERED"]; !ok {
		own = append(own, "PYTHONUNBUFFERED=1")
	}
	own = append(own, gpuEnv(w.gpus)...)
	own = append(own, extraEnv...) // PORT and PORT_HEALTH of LB workers
	if setsNetwork(e.RunArgs) {
		own = onHostGateway(own, s.cfg.BaseURL, e.Runtime)
	}
	var names []string
	for _, kv := range own {
		if n, _, _ := strings.Cut(kv, "="); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	spec := runSpec{Endpoint: e, Worker: w.id, Server: s.cfg.ServerID, Env: names, GPUs: w.gpus}
	if w.port != 0 {
		spec.LBPorts = []int{w.port, w.healthPort}
	}
	cmd := exec.Command(e.Runtime, spec.args()...)
	cmd.Env = append(env, own...) // later entries win
	w.ctr = &container{name: containerName(w.id), kind: e.Runtime, runtime: append([]string{e.Runtime}, e.RuntimeArgs...), env: s.cfg.Env}
	return cmd
}

// removeContainer removes w's container if it is still there: after its
// run command has exited, the container is gone or going (--rm), unless
// the command was killed.
func (s *Supervisor) removeContainer(w *worker) {
	ctx, cancel := context.WithTimeout(context.Background(), runtimeRemoveTimeout)
	defer cancel()
	if err := w.ctr.remove(ctx, w.ctr.name); err != nil {
		s.log.Warn("remove a worker's container", attrEndpoint, w.ep.cfg.ID, attrWorker, w.id, attrContainer, w.ctr.name, attrErr, err)
	}
}

// remove force-removes containers by name or id; one already gone is no error.
func (c *container) remove(ctx context.Context, names ...string) error {
	args := []string{"rm", "--force"}
	if c.kind == config.RuntimePodman {
		args = append(args, "--time", "0") // else a running one gets 10 s to stop
	}
	out, err := runtimeCall(ctx, c.runtime, c.env, append(args, names...)...)
	if err != nil && !strings.Contains(strings.ToLower(out), "no such container") {
		return fmt.Errorf("%s rm %s: %w: %s", c.runtime[0], strings.Join(names, " "), err, strings.TrimSpace(out))
	}
	return nil
}

// runtimeCall runs the runtime program with global flags rt and args, and
// returns its combined output.
func runtimeCall(ctx context.Context, rt []string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, rt[0], append(slices.Clone(rt[1:]), args...)...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// sweep removes this server's containers (by the sluice.server label) that
// belong to no live worker, for every runtime the image endpoints use: at
// start, those a killed earlier run of the server left; at shutdown, any
// whose removal after its worker's exit failed. The workers of containers
// removed at start are gone; their jobs are re-run once the engine finds
// them lost.
func (s *Supervisor) sweep(ctx context.Context, why string) {
	s.mu.Lock()
	var rts []*container
	live := map[string]bool{}
	for _, ep := range s.endpoints {
		for id := range ep.workers {
			live[containerName(id)] = true
		}
		e := &ep.cfg
		if !e.IsImage() {
			continue
		}
		c := &container{kind: e.Runtime, runtime: append([]string{e.Runtime}, e.RuntimeArgs...), env: s.cfg.Env}
		if !slices.ContainsFunc(rts, func(o *container) bool { return slices.Equal(o.runtime, c.runtime) }) {
			rts = append(rts, c)
		}
	}
	s.mu.Unlock()
	for _, c := range rts {
		ctx, cancel := context.WithTimeout(ctx, runtimeRemoveTimeout)
		out, err := runtimeCall(ctx, c.runtime, c.env, "ps", "--all", "--filter", "label="+LabelServer+"="+s.cfg.ServerID, "--format", "{{.ID}} {{.Names}}")
		if err != nil {
			err = fmt.Errorf("%s ps: %w: %s", c.runtime[0], err, strings.TrimSpace(out))
		}
		var stale []string
		for line := range strings.Lines(out) {
			if id, name, ok := strings.Cut(strings.TrimSpace(line), " "); ok && err == nil && !live[name] {
				stale = append(stale, id)
			}
		}
		if len(stale) > 0 {
			if err = c.remove(ctx, stale...); err == nil {
				s.log.Info("removed worker containers "+why, attrCount, len(stale), attrServer, s.cfg.ServerID)
			}
		}
		cancel()
		if err != nil {
			s.log.Warn("remove worker containers "+why, attrServer, s.cfg.ServerID, attrErr, err)
		}
	}
}

// Log attribute keys of the server id and a number of containers.
const (
	attrServer = "server"
	attrCount  = "count"
)

// runtimes caches which runtime answers, by global flags.
type runtimes struct {
	mu    sync.Mutex
	found map[string]string
}

// resolveRuntimes returns endpoints with the runtime of every image
// endpoint that names none filled in: the first of podman and docker on
// PATH whose engine answers `info`. It fails when none does.
func (s *Supervisor) resolveRuntimes(ctx context.Context, endpoints []config.Endpoint) ([]config.Endpoint, error) {
	out := slices.Clone(endpoints)
	for i := range out {
		e := &out[i]
		if !e.IsImage() || e.Runtime != "" {
			continue
		}
		rt, err := s.rts.detect(ctx, e.RuntimeArgs, s.cfg.Env)
		if err != nil {
			return nil, fmt.Errorf("endpoint %s: image %s: %w", e.ID, e.Image, err)
		}
		e.Runtime = rt
	}
	return out, nil
}

// errNoRuntime: neither podman nor docker answers.
var errNoRuntime = errors.New("no container runtime answers (set runtime in the endpoint, or install podman or docker)")

func (r *runtimes) detect(ctx context.Context, globals, env []string) (string, error) {
	key := strings.Join(globals, "\x00")
	r.mu.Lock()
	defer r.mu.Unlock()
	if rt, ok := r.found[key]; ok {
		return rt, nil
	}
	var why []string
	for _, name := range []string{config.RuntimePodman, config.RuntimeDocker} {
		if _, err := exec.LookPath(name); err != nil {
			why = append(why, name+": not on PATH")
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, runtimeInfoTimeout)
		out, err := runtimeCall(ictx, append([]string{name}, globals...), env, "info")
		cancel()
		if err != nil {
			last := strings.TrimSpace(out)
			if i := strings.LastIndexByte(last, '\n'); i >= 0 {
				last = last[i+1:]
			}
			why = append(why, fmt.Sprintf("%s info: %v: %s", name, err, last))
			continue
		}
		if r.found == nil {
			r.found = map[string]string{}
		}
		r.found[key] = name
		return name, nil
	}
	return "", fmt.Errorf("%w: %s", errNoRuntime, strings.Join(why, "; "))
}

// runtimeFailure explains a container worker whose run command failed by
// itself (status 125: a failed pull, a bad flag), from its last lines.
func runtimeFailure(w *worker, tail []string) string {
	if w.ctr == nil {
		return ""
	}
	var ee *exec.ExitError
	if !errors.As(w.exitErr, &ee) || ee.ExitCode() != runtimeFailedStatus {
		return ""
	}
	for _, l := range slices.Backward(tail) {
		if _, msg, ok := strings.Cut(l, "Error"); ok {
			return fmt.Sprintf("%s run failed (image %s): %s", w.ctr.kind, w.ep.cfg.Image, strings.TrimLeft(msg, ": "))
		}
	}
	return fmt.Sprintf("%s run failed (image %s)", w.ctr.kind, w.ep.cfg.Image)
}

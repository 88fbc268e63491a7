package bench

// Servers in child processes: with Options.ServerCommand and FloorCommand
// set, Sluice's server and the protocol floor each run in a process of their
// own, so their CPU time and memory are read from /proc apart from the
// clients'. ServerCommand is any sluice binary (`serve` is given the
// benchmark's flags), so an older build can be measured by the same harness.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/server"
)

// ChildMain runs one benchmark server until ctx ends: "floor ADDR" (the
// protocol floor) or "serve --addr ADDR --data-dir DIR --endpoint ID" (the
// flags the benchmark gives `sluice serve`, for test binaries standing in
// for it). It returns the process's exit code.
func ChildMain(ctx context.Context, args []string) int {
	var err error
	switch {
	case len(args) == 2 && args[0] == "floor":
		err = serveFloorAt(ctx, args[1])
	case len(args) > 0 && args[0] == "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		addr, dir, ep := fs.String("addr", "", ""), fs.String("data-dir", "", ""), fs.String("endpoint", endpoint, "")
		if err = fs.Parse(args[1:]); err == nil {
			err = server.Serve(ctx, server.Options{Addr: *addr, DataDir: *dir, Endpoints: []string{*ep},
				Logger: slog.New(slog.DiscardHandler)})
		}
	default:
		err = fmt.Errorf("usage: floor ADDR | serve --addr ADDR --data-dir DIR --endpoint ID, not %q", args)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		return 1
	}
	return 0
}

// serveFloorAt serves a floor server on addr until ctx ends.
func serveFloorAt(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	srv := &http.Server{Handler: newFloorServer(endpoint, floorHold).handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("floor: %w", err)
	}
	return nil
}

// child is a server in a child process.
type child struct {
	cmd  *exec.Cmd
	addr string
}

// startChild starts the command argv(addr) for a free loopback port addr
// and waits until GET ready (a path) answers below 500.
func startChild(ctx context.Context, opts Options, kind string, argv func(addr string) []string, ready string) (*child, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: %s server: %w", kind, err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	args := argv(addr)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), opts.ChildEnv...)
	cmd.Stdout, cmd.Stderr = opts.ChildOutput, opts.ChildOutput
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s server: %w", kind, err)
	}
	c := &child{cmd: cmd, addr: addr}
	deadline := time.Now().Add(time.Minute)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := hc.Get("http://" + addr + ready)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode < 500 {
				return c, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			c.stop()
			return nil, fmt.Errorf("bench: %s server not ready at %s: %w", kind, addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a port that is not open yet
	}
}

// stop ends the child (SIGTERM, then SIGKILL after 30 s).
func (c *child) stop() {
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// clockTick is the unit of /proc/<pid>/stat's times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpu is the CPU time (user and system) the child has used so far.
func (c *child) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("bench: server CPU: %w", err)
	}
	// Fields after the command name (which may hold spaces) start at state.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: server CPU: short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("bench: server CPU: %w", err)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// rss is the child's resident memory in bytes.
func (c *child) rss() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("bench: server memory: %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bench: server memory: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("bench: server memory: no VmRSS")
}

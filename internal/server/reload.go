package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/lbproxy"
	"github.com/sluicehq/sluice/internal/scaler"
)

// live is the configuration in force. A reload builds a new one and swaps
// it in whole; readers Load it once per request and never modify it.
//
// A removed endpoint is retired, not forgotten: the engine keeps knowing it
// (its workers may still report the jobs they hold, clients may still read,
// cancel and retry its jobs by id), its last client and worker keys keep
// working, but it accepts no new job (404) and Sluice's own workers of it
// drain (each stops once it holds no job). Its queued jobs wait for a
// worker still connected, a cancel, or their ttl. A restart forgets it.
type live struct {
	s       *settings
	keys    api.Keys
	managed map[string]bool            // configured and retired endpoints
	retired map[string]config.Endpoint // removed by a reload, by id
}

// newLive is the state at start.
func newLive(s *settings, keys api.Keys) *live {
	l := &live{s: s, keys: keys, managed: map[string]bool{}, retired: map[string]config.Endpoint{}}
	for _, ep := range s.file.Endpoints {
		l.managed[ep.ID] = ep.Managed()
	}
	return l
}

// engineEndpoints are the endpoints the engine knows: configured and retired.
func (l *live) engineEndpoints() []engine.EndpointSettings {
	out := l.s.engineEndpoints()
	for _, id := range slices.Sorted(maps.Keys(l.retired)) {
		ep := l.retired[id]
		out = append(out, engine.EndpointSettings{ID: id, ExecutionTimeout: ep.ExecutionTimeout(), MaxQueue: ep.MaxQueue})
	}
	return out
}

// supervised are the configured endpoints with their worker keys, for
// the supervisor.
func (l *live) supervised() []config.Endpoint {
	eps := slices.Clone(l.s.file.Endpoints)
	for i := range eps {
		eps[i].WorkerKey = l.keys.Worker[eps[i].ID]
	}
	return eps
}

// openEndpoints are the endpoints (configured and retired) whose client API
// takes requests without a key.
func (l *live) openEndpoints() []string {
	var open []string
	for _, ep := range l.s.file.Endpoints {
		if l.keys.Open(ep.ID) {
			open = append(open, ep.ID)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(l.retired)) {
		if l.keys.Open(id) {
			open = append(open, id)
		}
	}
	return open
}

// next builds the state that follows l when the config becomes s (with keys
// computed from it): endpoints l serves that s lacks are retired with their
// last keys, retired ones s lists again are back, and a worker key that
// changed stays accepted as a Previous key.
func (l *live) next(s *settings, keys api.Keys) *live {
	n := &live{s: s, keys: keys, managed: map[string]bool{}, retired: map[string]config.Endpoint{}}
	n.keys.Previous = map[string][]string{}
	for id, old := range l.keys.Previous {
		n.keys.Previous[id] = slices.Clone(old)
	}
	for _, ep := range s.file.Endpoints {
		n.managed[ep.ID] = ep.Managed()
	}
	retire := func(ep config.Endpoint) {
		if s.file.Endpoint(ep.ID) != nil {
			return
		}
		n.retired[ep.ID] = ep
		n.managed[ep.ID] = ep.Managed()
		if k, ok := l.keys.EndpointClient[ep.ID]; ok {
			n.keys.EndpointClient[ep.ID] = k
		}
		if k, ok := l.keys.Worker[ep.ID]; ok {
			n.keys.Worker[ep.ID] = k
		}
	}
	for _, ep := range l.s.file.Endpoints {
		retire(ep)
	}
	for _, id := range slices.Sorted(maps.Keys(l.retired)) {
		retire(l.retired[id])
	}
	for id, old := range l.keys.Worker {
		if nk, ok := n.keys.Worker[id]; ok && nk != old && !slices.Contains(n.keys.Previous[id], old) {
			n.keys.Previous[id] = append(n.keys.Previous[id], old)
		}
	}
	for id, prev := range n.keys.Previous {
		// A key in use again is current, not previous.
		n.keys.Previous[id] = slices.DeleteFunc(prev, func(k string) bool { return k == n.keys.Worker[id] })
		if len(n.keys.Previous[id]) == 0 {
			delete(n.keys.Previous, id)
		}
	}
	return n
}

// restartSetting is one setting a reload cannot apply.
type restartSetting struct {
	name string
	get  func(*settings) any
}

// restartOnly names the settings a running server cannot change: the
// engine and the supervisor read them once.
var restartOnly = []restartSetting{
	{"pingIntervalMs", func(s *settings) any { return s.pingInterval }},
	{"maxRetries", func(s *settings) any { return s.maxRetries }},
	{"retention", func(s *settings) any { return s.retention }},
	{"syncRetention", func(s *settings) any { return s.syncRetention }},
}

// restartFields are the endpoint fields whose change replaces the
// endpoint's running workers (what a started process cannot pick up).
var restartFields = map[string]bool{"command": true, "dir": true, "env": true, "gpuCount": true, "gpus": true, "workerKey": true,
	"image": true, "args": true, "runtime": true, "runtimeArgs": true, "runArgs": true, "pull": true, "volumes": true,
	"networkVolume": true, "shmSize": true, "ports": true,
	"type": true, "healthPort": true}

// changes describes, one line each, how n differs from l: endpoints added,
// removed and changed (by field name; key values are never shown), client
// keys added and removed, and settings that wait for a restart.
func (l *live) changes(n *live) []string {
	var out []string
	for _, ep := range n.s.file.Endpoints {
		old := l.s.file.Endpoint(ep.ID)
		if old == nil {
			what := "unmanaged: its workers connect with `sluice worker-env " + ep.ID + "`"
			if ep.Managed() {
				what = fmt.Sprintf("managed, workersMin %d, workersMax %d", ep.WorkersMin, ep.WorkersMax)
			}
			out = append(out, fmt.Sprintf("endpoint %s added (%s)", ep.ID, what))
			continue
		}
		fields := changedFields(*old, ep)
		if l.keys.Worker[ep.ID] != n.keys.Worker[ep.ID] && !slices.Contains(fields, "workerKey") {
			fields = append(fields, "workerKey")
		}
		if len(fields) == 0 {
			continue
		}
		line := fmt.Sprintf("endpoint %s changed: %s", ep.ID, strings.Join(fields, ", "))
		if ep.Managed() && slices.ContainsFunc(fields, func(f string) bool { return restartFields[f] }) {
			line += " (its workers are replaced, each once it holds no job)"
		}
		out = append(out, line)
	}
	for _, ep := range l.s.file.Endpoints {
		if n.s.file.Endpoint(ep.ID) == nil {
			out = append(out, fmt.Sprintf("endpoint %s removed (it accepts no new jobs; its workers drain; its jobs stay readable by id)", ep.ID))
		}
	}
	if added, removed := setDiff(l.keys.Client, n.keys.Client); added+removed > 0 {
		out = append(out, fmt.Sprintf("apiKeys: %d added, %d removed", added, removed))
	}
	for _, f := range changedFields(*l.s.file, *n.s.file) {
		if f != "apiKeys" && f != "endpoints" && !slices.ContainsFunc(restartOnly, func(r restartSetting) bool { return r.name == f }) {
			out = append(out, f+" changed")
		}
	}
	for _, r := range restartOnly {
		if r.get(l.s) != r.get(n.s) {
			out = append(out, r.name+" changed, but applies only after a restart")
		}
	}
	return out
}

// changedFields are the YAML names of the fields that differ between a and
// b, two values of one struct type, in declaration order.
func changedFields[T any](a, b T) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := range va.NumField() {
		f := va.Type().Field(i)
		name, opt, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		x, y := va.Field(i), vb.Field(i)
		if opt == "inline" && x.Kind() == reflect.Struct { // e.g. an endpoint's container fields
			out = append(out, changedFields(x.Interface(), y.Interface())...)
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		if x.Kind() == reflect.Map || x.Kind() == reflect.Slice {
			if x.Len() == 0 && y.Len() == 0 {
				continue // nil and empty alike
			}
		}
		if !reflect.DeepEqual(x.Interface(), y.Interface()) {
			out = append(out, name)
		}
	}
	return out
}

// setDiff counts the distinct strings of b not in a and of a not in b.
func setDiff(a, b []string) (added, removed int) {
	for _, k := range dedup(b) {
		if !slices.Contains(a, k) {
			added++
		}
	}
	for _, k := range dedup(a) {
		if !slices.Contains(b, k) {
			removed++
		}
	}
	return added, removed
}

func dedup(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return slices.Compact(s)
}

// reloader applies config reloads (SIGHUP, POST /v2/admin/reload) to a
// running server, one at a time.
type reloader struct {
	mu     sync.Mutex // one reload at a time
	opts   Options
	cur    *atomic.Pointer[live]
	eng    *engine.Engine
	sup    *scaler.Supervisor
	api    *api.Handler
	lb     *lbproxy.Pool
	guards *guards
	log    *slog.Logger
}

// errNoConfig answers a reload of a server started without --config.
var errNoConfig = errors.New("sluice serve runs without --config: there is no config file to reload (endpoints come from --endpoint)")

// reload reads the config file again and applies it. A *api.ReloadError
// means the file was refused and nothing changed. On success it returns
// the changes, one line each (none when the file is as before).
func (r *reloader) reload(ctx context.Context) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.opts.ConfigPath == "" {
		return nil, &api.ReloadError{Err: errNoConfig}
	}
	s, err := loadSettings(r.opts.ConfigPath, nil, r.opts.Overrides)
	if err != nil {
		return nil, &api.ReloadError{Err: err}
	}
	keys, err := s.apiKeys(r.opts.DataDir)
	if err != nil {
		if errors.Is(err, errKeyClash) {
			return nil, &api.ReloadError{Err: err}
		}
		return nil, fmt.Errorf("reload %s: %w", r.opts.ConfigPath, err)
	}
	prev := r.cur.Load()
	n := prev.next(s, keys)
	if open := n.openEndpoints(); len(open) > 0 && !isLoopback(r.opts.Addr) {
		return nil, &api.ReloadError{Err: fmt.Errorf("%s: endpoint(s) %v would have no client API key while Sluice listens on %s, so anyone who can reach the port could submit jobs; keep apiKeys in the config file (or set %s)", r.opts.ConfigPath, open, r.opts.Addr, EnvAPIKeys)}
	}
	changes := prev.changes(n)

	// New keys first: workers of new endpoints, started below, and clients
	// with new keys are let in once the endpoints exist.
	if err := r.guards.apply(s.file); err != nil {
		return nil, &api.ReloadError{Err: err}
	}
	r.api.SetKeys(n.keys)
	r.cur.Store(n)
	r.eng.SetEndpoints(n.engineEndpoints())
	r.lb.Update(s.file.Endpoints)
	if err := r.sup.Update(ctx, n.supervised()); err != nil {
		return nil, fmt.Errorf("reload %s: %w", r.opts.ConfigPath, err)
	}
	return changes, nil
}

// logReload runs a reload and logs its outcome in one line.
func (r *reloader) logReload(ctx context.Context, trigger string) ([]string, error) {
	changes, err := r.reload(ctx)
	var re *api.ReloadError
	switch {
	case errors.As(err, &re):
		r.log.Error("config reload refused; the running config stays", attrTrigger, trigger, attrErr, re.Err)
	case err != nil:
		r.log.Error("config reload failed", attrTrigger, trigger, attrErr, err)
	case len(changes) == 0:
		r.log.Info("config reloaded: no changes", attrTrigger, trigger, attrConfig, r.opts.ConfigPath)
	default:
		r.log.Info("config reloaded", attrTrigger, trigger, attrConfig, r.opts.ConfigPath, attrChanges, strings.Join(changes, "; "))
	}
	return changes, err
}

// watchHUP reloads on every SIGHUP until ctx ends. It returns at once when
// the server has no config file (SIGHUP then keeps its default action).
// The returned function stops watching and waits for a reload under way.
func (r *reloader) watchHUP(ctx context.Context) (stop func()) {
	if r.opts.ConfigPath == "" {
		return func() {}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-wctx.Done():
				return
			case <-hup:
				_, _ = r.logReload(wctx, "SIGHUP") // logged there
			}
		}
	}()
	return sync.OnceFunc(func() {
		signal.Stop(hup)
		cancel()
		<-done
	})
}

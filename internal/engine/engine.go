package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the JetStream streams and buckets the engine uses.
const (
	jobsStream   = "KV_sluice_jobs" // job records, one subject per job (a KV bucket without direct get)
	jobsPrefix   = "$KV.sluice_jobs."
	queueStream  = "sluice_queue" // work queue: sluice.q.<ep>.<n|l>.<id>
	queuePrefix  = "sluice.q."
	chunkStream  = "sluice_chunks" // stream chunks: sluice.chunk.<ep>.<id>
	chunkPrefix  = "sluice.chunk."
	blobStream   = "sluice_blobs" // large values split in parts: sluice.blob.<ep>.<id>.<kind>...
	blobPrefix   = "sluice.blob."
	eventStream  = "sluice_events" // terminal transitions and retries, for /health counters
	eventPrefix  = "sluice.ev."
	stopStream   = "sluice_stops" // stop signals: sluice.stop.<ep>.<worker>
	stopPrefix   = "sluice.stop."
	hookStream   = "sluice_hooks" // webhook deliveries (work queue): sluice.hook.<ep>.<id>
	hookPrefix   = "sluice.hook."
	leasePrefix  = jobsPrefix + "=lease." // + <ep>.<id>: index of jobs that may be IN_PROGRESS ('=' is in no endpoint id)
	oldLeases    = "KV_sluice_leases"     // where leases were kept before; moved at Open
	workerBucket = "sluice_workers"       // worker liveness: <ep>.<worker>
	prioNormal   = "n"
	prioLow      = "l"
)

// Limits.
const (
	inlineMax       = 64 << 10           // values above this go to the blob stream
	blobPart        = 512 << 10          // size of one blob part (under NATS's default 1 MB max_payload)
	maxChunkBytes   = 1<<20 - 16<<10     // largest stream chunk (Runpod: 1 MB)
	maxInputBytes   = 20 << 20           // largest input (Runpod /runsync: 20 MB)
	maxBlobAge      = 8 * 24 * time.Hour // upper bound for blob and chunk streams (ttl max is 7 days)
	embeddedPayload = 8 << 20            // max_payload of the embedded server
	defaultTTL      = 24 * time.Hour
	defaultExec     = 10 * time.Minute
	recheck         = 2 * time.Second // safety re-check of long polls, in case a wake-up was missed
)

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ValidID reports whether s can be used as an endpoint id (letters, digits, '-' and '_').
func ValidID(s string) bool { return tokenRE.MatchString(s) }

// Engine is the job engine. It is safe for concurrent use.
type Engine struct {
	cfg Config
	log *slog.Logger
	srv *server.Server // embedded server, nil when external
	nc  *nats.Conn
	js  jetstream.JetStream

	jobs, queue, chunks, blobs, events, stops jetstream.Stream
	hookStr                                   jetstream.Stream
	workers                                   jetstream.KeyValue
	workerStr                                 jetstream.Stream // the stream behind workers

	mu        sync.RWMutex
	endpoints map[string]EndpointSettings
	consumers map[string]*epConsumers

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	wakeMu    sync.Mutex
	wake      map[string]chan struct{} // per endpoint, closed by a queue nudge
	wakeSub   *nats.Subscription
	nudges    *waker // job and stop nudges, one subscription each
	nudgeSubs []*nats.Subscription
	mem       *memory // records and leases this engine stored (hints)
	parkMu    sync.Mutex
	parked    map[string][]*parkedTake // per endpoint, longest-parked first (handoff.go)
	touched   sync.Map                 // worker key -> time of the last touch by a take

	purgeMu sync.Mutex
	purges  map[string]purgeMark // per endpoint, the last purge (purge.go)
	// upSince is when Open began or JetStream last failed to answer the
	// reaper (Unix ns): a worker is never lost sooner than WorkerLostAfter
	// after it, however long the engine or the cluster was down.
	upSince atomic.Int64
	reaps   atomic.Int64 // reaper passes done
	depth   depths       // queue depths for MaxQueue (limits.go)

	reapMu  sync.Mutex
	checked map[string]time.Time // lease key -> last look at its job (under reapMu)

	indexMu sync.Mutex
	index   *listIndex // the job listing index, started by the first List (index.go)

	// inputGrace: a stored input younger than this is never removed as orphaned.
	inputGrace time.Duration

	closeOnce sync.Once
	closeErr  error
}

func (c Config) withDefaults() Config {
	if c.Replicas <= 0 && c.NATSURL == "" {
		c.Replicas = 1
	}
	if c.Retention <= 0 {
		c.Retention = 30 * time.Minute
	}
	if c.SyncRetention <= 0 {
		c.SyncRetention = time.Minute
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 10 * time.Second
	}
	if c.WorkerLostAfter <= 0 {
		c.WorkerLostAfter = 3 * c.PingInterval
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	} else if c.MaxRetries == 0 {
		c.MaxRetries = 2
	}
	if c.MaxOutputBytes <= 0 {
		c.MaxOutputBytes = 20 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.ReaperInterval <= 0 {
		c.ReaperInterval = min(c.PingInterval/2, 5*time.Second)
	}
	return c
}

// Open starts the engine: an embedded NATS server storing under cfg.DataDir, or
// a connection to cfg.NATSURL. It creates the streams and buckets it needs
// (idempotently, so several replicas may Open against one cluster).
// MaxRetries: zero means the default (2); a negative value means no retries.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	e := &Engine{cfg: cfg, log: cfg.Logger, endpoints: map[string]EndpointSettings{}, consumers: map[string]*epConsumers{},
		inputGrace: time.Minute, wake: map[string]chan struct{}{}, nudges: newWaker(), mem: newMemory(),
		parked: map[string][]*parkedTake{}, purges: map[string]purgeMark{},
		depth: depths{m: map[string]depth{}}}
	e.upSince.Store(time.Now().UnixNano())
	var err error
	if cfg.NATSURL == "" {
		if cfg.DataDir == "" {
			return nil, errors.New("open engine: DataDir or NATSURL is required")
		}
		if e.srv, e.nc, err = startEmbedded(cfg); err != nil {
			return nil, err
		}
	} else {
		e.nc, err = nats.Connect(cfg.NATSURL, nats.Name("sluice"), nats.MaxReconnects(-1), nats.NoEcho())
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", cfg.NATSURL, err)
		}
	}
	if e.cfg.Replicas <= 0 {
		// Default for an external server: 3 on a cluster, 1 on a single server.
		e.cfg.Replicas = 3
		if e.nc.ConnectedClusterName() == "" {
			e.cfg.Replicas = 1
			e.log.Warn("engine: external NATS server is not clustered; streams have 1 replica", attrURL, cfg.NATSURL)
		}
	}
	if err := e.setup(ctx); err != nil {
		e.nc.Close()
		if e.srv != nil {
			e.srv.Shutdown()
			e.srv.WaitForShutdown()
		}
		return nil, err
	}
	e.wakeSub, err = e.nc.Subscribe(nudgeQueue+"*", e.onQueueNudge)
	for _, prefix := range []string{nudgeJob, nudgeStop, nudgePurge} {
		if err != nil {
			break
		}
		var sub *nats.Subscription
		sub, err = e.nc.Subscribe(prefix+">", e.onNudge)
		e.nudgeSubs = append(e.nudgeSubs, sub)
	}
	if err == nil {
		err = e.nc.Flush()
	}
	if err != nil {
		e.nc.Close()
		if e.srv != nil {
			e.srv.Shutdown()
			e.srv.WaitForShutdown()
		}
		return nil, fmt.Errorf("subscribe to queue nudges: %w", err)
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.SetEndpoints(cfg.Endpoints)
	if err := e.loadPurgeMarks(ctx); err != nil {
		e.log.Warn("engine: purge marks", attrErr, err)
	}
	e.wg.Add(1)
	go e.reaper()
	return e, nil
}

func startEmbedded(cfg Config) (*server.Server, *nats.Conn, error) {
	opts := &server.Options{
		ServerName: "sluice",
		DontListen: true,
		JetStream:  true,
		StoreDir:   filepath.Join(cfg.DataDir, "nats"),
		MaxPayload: embeddedPayload,
		SyncAlways: cfg.StrictSync,
		// Over this, writes fail (and succeed again once room is freed)
		// rather than filling the disk, which would stop JetStream.
		JetStreamMaxStore: cmp.Or(cfg.MaxStorage, DefaultMaxStorage(cfg.DataDir)),
		NoSigs:            true,
		NoLog:             true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, nil, errors.New("embedded nats: not ready in 30s")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("sluice"), nats.NoEcho())
	if err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, nil, fmt.Errorf("embedded nats connect: %w", err)
	}
	return srv, nc, nil
}

func (e *Engine) setup(ctx context.Context) error {
	// Submit sends its two writes asynchronously: room for many concurrent
	// submits, and a bound on a lost acknowledgement like a request's.
	js, err := jetstream.New(e.nc, jetstream.WithPublishAsyncMaxPending(1<<16),
		jetstream.WithPublishAsyncTimeout(30*time.Second))
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	e.js = js
	r := e.cfg.Replicas
	mk := func(c jetstream.StreamConfig) (jetstream.Stream, error) {
		c.Storage = jetstream.FileStorage
		c.Replicas = r
		s, err := js.CreateOrUpdateStream(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("create stream %s: %w", c.Name, err)
		}
		return s, nil
	}
	if e.jobs, err = mk(jetstream.StreamConfig{
		Name: jobsStream, Subjects: []string{jobsPrefix + ">"}, MaxMsgsPerSubject: 1,
		Discard: jetstream.DiscardOld, AllowMsgTTL: true, MaxAge: maxBlobAge,
		// Direct gets skip the JSON API (a third of a read's cost), but on a
		// replicated stream a follower may answer them with an older
		// revision; only a single-replica stream has one answerer.
		AllowDirect: r == 1,
	}); err != nil {
		return err
	}
	if e.queue, err = mk(jetstream.StreamConfig{
		Name: queueStream, Subjects: []string{queuePrefix + ">"}, Retention: jetstream.WorkQueuePolicy,
		AllowMsgTTL: true, Duplicates: 2 * time.Minute, MaxAge: maxBlobAge,
	}); err != nil {
		return err
	}
	if e.chunks, err = mk(jetstream.StreamConfig{
		Name: chunkStream, Subjects: []string{chunkPrefix + ">"}, AllowMsgTTL: true, MaxAge: maxBlobAge,
		MaxMsgSize: -1,
	}); err != nil {
		return err
	}
	if e.blobs, err = mk(jetstream.StreamConfig{
		Name: blobStream, Subjects: []string{blobPrefix + ">"}, AllowMsgTTL: true, MaxAge: maxBlobAge,
	}); err != nil {
		return err
	}
	if e.events, err = mk(jetstream.StreamConfig{
		Name: eventStream, Subjects: []string{eventPrefix + ">"}, MaxAge: e.cfg.Retention,
	}); err != nil {
		return err
	}
	if e.stops, err = mk(jetstream.StreamConfig{
		Name: stopStream, Subjects: []string{stopPrefix + ">"}, MaxAge: time.Hour,
	}); err != nil {
		return err
	}
	if e.hookStr, err = mk(jetstream.StreamConfig{
		Name: hookStream, Subjects: []string{hookPrefix + ">"}, Retention: jetstream.WorkQueuePolicy,
		MaxAge: 24 * time.Hour, Duplicates: 2 * time.Minute,
	}); err != nil {
		return err
	}
	if err := e.moveOldLeases(ctx); err != nil {
		return err
	}
	if err := e.moveOldQueue(ctx); err != nil {
		return err
	}
	if e.workers, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: workerBucket, Storage: jetstream.FileStorage, Replicas: r,
		TTL: max(10*e.cfg.WorkerLostAfter, 10*time.Minute),
	}); err != nil {
		return fmt.Errorf("create bucket %s: %w", workerBucket, err)
	}
	if e.workerStr, err = js.Stream(ctx, "KV_"+workerBucket); err != nil {
		return fmt.Errorf("bucket %s: %w", workerBucket, err)
	}
	return nil
}

// Close stops the reaper, ends long polls (they return
// ErrClosed) and closes the connection and the embedded server.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.cancel()
		e.wg.Wait()
		e.nc.Close()
		if e.srv != nil {
			e.srv.Shutdown()
			e.srv.WaitForShutdown()
		}
	})
	return e.closeErr
}

// SetEndpoints replaces the set of known endpoints. Jobs of an endpoint that
// disappears stay stored, but every call naming it returns ErrNotFound.
// Ids that are not ValidID are skipped with a warning.
func (e *Engine) SetEndpoints(eps []EndpointSettings) {
	m := make(map[string]EndpointSettings, len(eps))
	for _, ep := range eps {
		if !ValidID(ep.ID) {
			e.log.Warn("engine: invalid endpoint id skipped", attrEndpoint, ep.ID)
			continue
		}
		if ep.ExecutionTimeout <= 0 {
			ep.ExecutionTimeout = defaultExec
		}
		if ep.MaxQueue == 0 {
			ep.MaxQueue = DefaultMaxQueue
		}
		m[ep.ID] = ep
	}
	e.mu.Lock()
	e.endpoints = m
	e.mu.Unlock()
	// Create the endpoints' consumers now, so the first take does not wait.
	for id := range m {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			if _, err := e.consumersFor(e.ctx, id); err != nil && e.ctx.Err() == nil {
				e.log.Warn("engine: create consumers", attrEndpoint, id, attrErr, err)
			}
			if err := e.loadPurgeMark(e.ctx, id); err != nil && e.ctx.Err() == nil {
				e.log.Warn("engine: purge mark", attrEndpoint, id, attrErr, err)
			}
		}()
	}
}

// Endpoint returns the settings of a known endpoint.
func (e *Engine) Endpoint(id string) (EndpointSettings, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	ep, ok := e.endpoints[id]
	return ep, ok
}

func (e *Engine) endpoint(id string) (EndpointSettings, error) {
	ep, ok := e.Endpoint(id)
	if !ok {
		return ep, fmt.Errorf("endpoint %q: %w", id, ErrNotFound)
	}
	return ep, nil
}

func (e *Engine) closed() bool { return e.ctx.Err() != nil }

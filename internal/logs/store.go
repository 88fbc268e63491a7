// Package logs keeps the stdout and stderr of worker processes: bounded,
// rotated JSON-lines files per endpoint under a data directory, readable per
// endpoint, per worker and per job, with follow.
//
// Each line a worker prints becomes a Record. The job a line belongs to is
// read from the line itself, as runpod-python and the Go serverless SDK print
// it: `INFO   | <job id> | message` or a JSON line with "requestId". Lines
// without a job id belong to no job.
//
// Storage per endpoint is <Dir>/<endpoint>.log plus one rotated file
// <endpoint>.log.1, so disk use is at most 2 × MaxFileBytes per endpoint.
package logs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

// Stream names in Record.Stream.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
	StreamSystem = "system" // lifecycle messages written by Sluice itself
)

// Defaults for Config.
const (
	DefaultMaxFileBytes = 8 << 20
	DefaultMaxLineBytes = 16 << 10
	followBuffer        = 1024
)

// ErrClosed is returned by calls on a closed Store.
var ErrClosed = errors.New("log store closed")

// Record is one stored log line.
type Record struct {
	Time     time.Time `json:"ts"`
	Endpoint string    `json:"endpoint"`
	Worker   string    `json:"worker"`
	Stream   string    `json:"stream"`
	Job      string    `json:"job,omitempty"`
	Line     string    `json:"line"`
}

// Filter selects records. Empty fields match everything.
type Filter struct {
	Endpoint string // required
	Worker   string
	Job      string
	// Tail is how many of the latest matching records Read returns and
	// Follow replays first. Zero: all for Read, none for Follow.
	Tail int
	// Since, when set, leaves out records older than it.
	Since time.Time
}

func (f *Filter) match(r *Record) bool {
	return (f.Worker == "" || r.Worker == f.Worker) && (f.Job == "" || r.Job == f.Job) &&
		(f.Since.IsZero() || !r.Time.Before(f.Since))
}

// Config configures Open.
type Config struct {
	// Dir holds the log files. Required; created if missing.
	Dir string
	// MaxFileBytes rotates an endpoint's file when it reaches this size.
	// Default 8 MiB.
	MaxFileBytes int64
	// MaxLineBytes cuts longer lines. Default 16 KiB.
	MaxLineBytes int
}

// Store is the log store. It is safe for concurrent use.
type Store struct {
	cfg    Config
	mu     sync.Mutex
	files  map[string]*epFile // by endpoint
	subs   map[*sub]struct{}
	closed bool
}

type epFile struct {
	f    *os.File
	size int64
}

type sub struct {
	filter  Filter
	ch      chan Record
	dropped atomic.Int64
}

// Open opens (creating) a store in cfg.Dir.
func Open(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("logs: Dir is required")
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = DefaultMaxFileBytes
	}
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = DefaultMaxLineBytes
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	return &Store{cfg: cfg, files: map[string]*epFile{}, subs: map[*sub]struct{}{}}, nil
}

// Close closes the files and ends every Follow.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, ef := range s.files {
		errs = append(errs, ef.f.Close())
	}
	for sb := range s.subs {
		close(sb.ch)
	}
	s.subs = nil
	return errors.Join(errs...)
}

func (s *Store) path(endpoint string) string {
	return filepath.Join(s.cfg.Dir, endpoint+".log")
}

// Append stores one record (Time defaults to now; Job is parsed from Line
// when empty) and hands it to matching followers.
func (s *Store) Append(r Record) error {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	if r.Job == "" && r.Stream != StreamSystem {
		r.Job = JobID(r.Line)
	}
	if len(r.Line) > s.cfg.MaxLineBytes {
		r.Line = r.Line[:s.cfg.MaxLineBytes] + "…[cut]"
	}
	b, err := json.Marshal(&r)
	if err != nil {
		return fmt.Errorf("encode log record: %w", err)
	}
	b = append(b, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	ef, err := s.file(r.Endpoint)
	if err != nil {
		return err
	}
	if ef.size+int64(len(b)) > s.cfg.MaxFileBytes && ef.size > 0 {
		if err := s.rotate(r.Endpoint, ef); err != nil {
			return err
		}
	}
	n, err := ef.f.Write(b)
	ef.size += int64(n)
	if err != nil {
		return fmt.Errorf("write log of %s: %w", r.Endpoint, err)
	}
	for sb := range s.subs {
		if sb.filter.Endpoint != r.Endpoint || !sb.filter.match(&r) {
			continue
		}
		select {
		case sb.ch <- r:
		default:
			sb.dropped.Add(1)
		}
	}
	return nil
}

// file returns the open file of endpoint. Called with s.mu held.
func (s *Store) file(endpoint string) (*epFile, error) {
	if ef := s.files[endpoint]; ef != nil {
		return ef, nil
	}
	f, err := os.OpenFile(s.path(endpoint), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log of %s: %w", endpoint, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat log of %s: %w", endpoint, err)
	}
	ef := &epFile{f: f, size: st.Size()}
	s.files[endpoint] = ef
	return ef, nil
}

// rotate moves the current file to .1 (replacing the old one). Called with s.mu held.
func (s *Store) rotate(endpoint string, ef *epFile) error {
	p := s.path(endpoint)
	if err := ef.f.Close(); err != nil {
		return fmt.Errorf("close log of %s: %w", endpoint, err)
	}
	if err := os.Rename(p, p+".1"); err != nil {
		return fmt.Errorf("rotate log of %s: %w", endpoint, err)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o640)
	if err != nil {
		delete(s.files, endpoint)
		return fmt.Errorf("reopen log of %s: %w", endpoint, err)
	}
	ef.f, ef.size = f, 0
	return nil
}

// Read returns the stored records matching f, oldest first.
func (s *Store) Read(ctx context.Context, f Filter) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.read(ctx, f)
}

// read scans the rotated then the current file. Called with s.mu held, so a
// record is never half-written while it is read.
func (s *Store) read(ctx context.Context, f Filter) ([]Record, error) {
	var out []Record
	p := s.path(f.Endpoint)
	for _, name := range []string{p + ".1", p} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		file, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read log of %s: %w", f.Endpoint, err)
		}
		sc := bufio.NewScanner(file)
		sc.Buffer(make([]byte, 64<<10), 4*s.cfg.MaxLineBytes+4096)
		for sc.Scan() {
			var r Record
			if json.Unmarshal(sc.Bytes(), &r) != nil || !f.match(&r) {
				continue
			}
			out = append(out, r)
			if f.Tail > 0 && len(out) > 2*f.Tail {
				out = append(out[:0], out[len(out)-f.Tail:]...)
			}
		}
		err = sc.Err()
		file.Close()
		if err != nil {
			return nil, fmt.Errorf("read log of %s: %w", f.Endpoint, err)
		}
	}
	if f.Tail > 0 && len(out) > f.Tail {
		out = out[len(out)-f.Tail:]
	}
	return out, nil
}

// Subscription receives the records appended after Subscribe. Close it.
type Subscription struct {
	s       *Store
	sb      *sub
	end     sync.Once
	pending *Record // a record held back behind a drop notice
}

// Subscribe returns the latest f.Tail matching records and a subscription to
// every matching record appended from now on, with no gap between the two.
func (s *Store) Subscribe(ctx context.Context, f Filter) (*Subscription, []Record, error) {
	sb := &sub{filter: f, ch: make(chan Record, followBuffer)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	var backlog []Record
	if f.Tail > 0 {
		var err error
		if backlog, err = s.read(ctx, f); err != nil {
			return nil, nil, err
		}
	}
	s.subs[sb] = struct{}{}
	return &Subscription{s: s, sb: sb}, backlog, nil
}

// Next returns the next record. A subscriber that fell more than 1024
// records behind first gets a system record saying how many it missed. It
// returns ctx's error when ctx ends and ErrClosed when the store closes.
func (u *Subscription) Next(ctx context.Context) (Record, error) {
	if r := u.pending; r != nil {
		u.pending = nil
		return *r, nil
	}
	select {
	case <-ctx.Done():
		return Record{}, ctx.Err()
	case r, ok := <-u.sb.ch:
		if !ok {
			return Record{}, ErrClosed
		}
		if n := u.sb.dropped.Swap(0); n > 0 {
			// Put r back in front by handing out the notice first.
			u.pending = &r
			return Record{Time: time.Now(), Endpoint: u.sb.filter.Endpoint, Stream: StreamSystem,
				Line: fmt.Sprintf("%d log lines skipped: the reader was too slow", n)}, nil
		}
		return r, nil
	}
}

// Close ends the subscription.
func (u *Subscription) Close() {
	u.end.Do(func() {
		u.s.mu.Lock()
		if u.s.subs != nil {
			delete(u.s.subs, u.sb)
		}
		u.s.mu.Unlock()
	})
}

// Follow calls fn with the latest f.Tail matching records, then with each new
// one as it is appended, until ctx ends (returning nil), fn returns an error
// (returned) or the store closes (ErrClosed). A follower that falls more than
// 1024 records behind gets a system record saying how many it missed.
func (s *Store) Follow(ctx context.Context, f Filter, fn func(Record) error) error {
	u, backlog, err := s.Subscribe(ctx, f)
	if err != nil {
		return err
	}
	defer u.Close()
	for _, r := range backlog {
		if err := fn(r); err != nil {
			return err
		}
	}
	for {
		r, err := u.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
}

// Writer returns a writer that stores each line written to it as a record
// of the given worker and stream. Close flushes a last unterminated line.
// Write errors of the store are not returned (a worker's output must never
// block or fail because of its log); they are counted in Errors.
func (s *Store) Writer(endpoint, worker, stream string) *LineWriter {
	return &LineWriter{s: s, endpoint: endpoint, worker: worker, stream: stream}
}

// LineWriter splits output into lines. See Store.Writer.
type LineWriter struct {
	s                        *Store
	endpoint, worker, stream string
	mu                       sync.Mutex
	buf                      []byte
	errs                     atomic.Int64
}

// Write implements io.Writer. Lines longer than MaxLineBytes are split.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	limit := w.s.cfg.MaxLineBytes
	rest := w.buf
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		line := rest[:i]
		for len(line) > limit {
			w.emit(line[:limit])
			line = line[limit:]
		}
		w.emit(line)
		rest = rest[i+1:]
	}
	for len(rest) >= limit {
		w.emit(rest[:limit])
		rest = rest[limit:]
	}
	w.buf = append(w.buf[:0], rest...)
	return len(p), nil
}

func (w *LineWriter) emit(line []byte) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	err := w.s.Append(Record{Endpoint: w.endpoint, Worker: w.worker, Stream: w.stream, Line: string(line)})
	if err != nil {
		w.errs.Add(1)
	}
}

// Close flushes a last line that has no newline.
func (w *LineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
	return nil
}

// Errors is the number of lines that could not be stored.
func (w *LineWriter) Errors() int64 { return w.errs.Load() }

var _ io.WriteCloser = (*LineWriter)(nil)

// plainRe matches runpod-python's and the Go SDK's plain log lines:
// `LEVEL  | job id | message`.
var plainRe = regexp.MustCompile(`^\s*(?:TRACE|DEBUG|INFO|WARN|WARNING|ERROR|TIP|FATAL|CRITICAL)\s*\|\s*([^\s|]+)\s*\|`)

// JobID returns the job id a log line names, or "".
func JobID(line string) string {
	if len(line) > 0 && line[0] == '{' {
		var v struct {
			RequestID any `json:"requestId"`
		}
		if json.Unmarshal([]byte(line), &v) == nil {
			if id, ok := v.RequestID.(string); ok {
				return id
			}
		}
		return ""
	}
	if m := plainRe.FindStringSubmatch(line); m != nil {
		return m[1]
	}
	return ""
}

package serverless

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Attribute keys the SDK's log handler gives a meaning to. Other attributes
// are appended to the message as key=value.
const (
	// LogKeyJobID is the attribute holding the job id a record is about
	// (printed as "LEVEL  | <id> | msg", or "requestId" in JSON lines).
	LogKeyJobID = "job_id"
	// LogKeyBatchID is the attribute holding the job's batchId; it prefixes
	// the message with "[batchId=<id>] ".
	LogKeyBatchID = "batch_id"
)

// LevelTrace is runpod-python's TRACE level, below slog.LevelDebug.
const LevelTrace = slog.LevelDebug - 4

// levelSilent is above every level: runpod-python's NOTSET prints nothing.
const levelSilent = slog.Level(1 << 20)

// Message truncation of runpod-python's logger (docs/spec/runpod-worker-protocol.md 1.11).
const (
	logMaxChars  = 4096
	logKeepChars = 2048
)

// stdout is where the worker's log lines and banner go, and in test_input
// mode the job's result; stderr is where test_input mode logs.
var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
)

// newLogger builds the SDK logger: runpod-python's line format (JSON lines
// when RUNPOD_ENDPOINT_ID is set) on w, level from --rp_log_level, then
// RUNPOD_LOG_LEVEL / RUNPOD_DEBUG_LEVEL, else DEBUG. base, when non-nil,
// is returned as is.
func newLogger(base *slog.Logger, level string, env workerEnv, w io.Writer) *slog.Logger {
	if base != nil {
		return base
	}
	if level == "" {
		level = env.logLevel
	}
	lvl, ok := parseLogLevel(level)
	if !ok {
		lvl = slog.LevelDebug
	}
	return slog.New(newLogHandler(w, lvl, env.endpointID != ""))
}

// parseLogLevel maps runpod-python's level names (case-insensitive) to slog
// levels. "" is DEBUG; NOTSET silences everything.
func parseLogLevel(s string) (slog.Level, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "DEBUG":
		return slog.LevelDebug, true
	case "TRACE":
		return LevelTrace, true
	case "INFO":
		return slog.LevelInfo, true
	case "WARN", "WARNING":
		return slog.LevelWarn, true
	case "ERROR":
		return slog.LevelError, true
	case "NOTSET":
		return levelSilent, true
	}
	return slog.LevelDebug, false
}

// levelName is runpod-python's name for l.
func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "TRACE"
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARN"
	}
	return "ERROR"
}

// logHandler is a slog.Handler writing runpod-python's log lines:
// "LEVEL  | [job id | ]message" or, in JSON mode,
// {"requestId": <id|null>, "message": "...", "level": "LEVEL"}.
type logHandler struct {
	mu      *sync.Mutex
	w       io.Writer
	level   slog.Leveler
	json    bool
	jobID   string
	batchID string
	extra   []string // pre-rendered key=value of WithAttrs
	group   string   // key prefix from WithGroup
}

// newLogHandler returns a handler writing to w records at level or above.
func newLogHandler(w io.Writer, level slog.Leveler, jsonLines bool) *logHandler {
	return &logHandler{mu: &sync.Mutex{}, w: w, level: level, json: jsonLines}
}

// Enabled implements slog.Handler.
func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// WithAttrs implements slog.Handler.
func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.extra = append([]string(nil), h.extra...)
	for _, a := range attrs {
		c.addAttr(a)
	}
	return &c
}

// WithGroup implements slog.Handler.
func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group = h.group + name + "."
	return &c
}

// addAttr records a: the job and batch ids (outside any group) are kept
// apart, anything else is rendered key=value.
func (h *logHandler) addAttr(a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if h.group == "" {
		switch a.Key {
		case LogKeyJobID:
			h.jobID = a.Value.String()
			return
		case LogKeyBatchID:
			h.batchID = a.Value.String()
			return
		}
	}
	if a.Value.Kind() == slog.KindGroup {
		c := *h
		if a.Key != "" {
			c.group = h.group + a.Key + "."
		}
		for _, g := range a.Value.Group() {
			c.addAttr(g)
		}
		h.extra, h.jobID, h.batchID = c.extra, c.jobID, c.batchID
		return
	}
	v := a.Value.String()
	if strings.ContainsAny(v, " \t\n\"=") {
		v = strconv.Quote(v)
	}
	h.extra = append(h.extra, h.group+a.Key+"="+v)
}

// Handle implements slog.Handler.
func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	c := *h
	c.extra = append([]string(nil), h.extra...)
	r.Attrs(func(a slog.Attr) bool {
		c.addAttr(a)
		return true
	})
	msg := r.Message
	if len(c.extra) > 0 {
		msg += " " + strings.Join(c.extra, " ")
	}
	if c.batchID != "" {
		msg = "[batchId=" + c.batchID + "] " + msg
	}
	msg = truncateLogMessage(msg)
	var line bytes.Buffer
	if c.json {
		line.WriteString(`{"requestId": `)
		if c.jobID == "" {
			line.WriteString("null")
		} else {
			writePyJSONString(&line, c.jobID)
		}
		line.WriteString(`, "message": `)
		writePyJSONString(&line, msg)
		line.WriteString(`, "level": `)
		writePyJSONString(&line, levelName(r.Level))
		line.WriteString("}\n")
	} else {
		fmt.Fprintf(&line, "%-7s| ", levelName(r.Level))
		if c.jobID != "" {
			line.WriteString(c.jobID + " | ")
		}
		line.WriteString(msg)
		line.WriteByte('\n')
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(line.Bytes())
	return err
}

// truncateLogMessage keeps the first and last 2,048 characters of a message
// longer than 4,096, as runpod-python does.
func truncateLogMessage(msg string) string {
	n := utf8.RuneCountInString(msg)
	if n <= logMaxChars {
		return msg
	}
	runes := []rune(msg)
	return string(runes[:logKeepChars]) +
		fmt.Sprintf("\n...TRUNCATED %d CHARACTERS...\n", n-logMaxChars) +
		string(runes[n-logKeepChars:])
}

// writePyJSONString writes s as Python's json.dumps does by default
// (ensure_ascii): every non-ASCII character as \uXXXX escapes.
func writePyJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20:
			fmt.Fprintf(b, `\u%04x`, r)
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(b, `\u%04x`, r)
		}
	}
	b.WriteByte('"')
}

// printBanner prints runpod-python's start-up line to w.
func printBanner(w io.Writer) {
	fmt.Fprintf(w, "--- Starting Serverless Worker |  Version %s ---\n", Version)
}

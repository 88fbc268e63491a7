package serverless

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// Attribute keys of the test lines.
const (
	keyAttempt = "attempt"
	keyWhy     = "why"
	keyK       = "k"
)

func TestLogLinePlain(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(newLogHandler(&buf, slog.LevelDebug, false))
	log.Info("test_message", LogKeyJobID, "test_job_id")
	log.Warn("no job")
	log.Error("failed", LogKeyJobID, "j", LogKeyBatchID, "b1", keyAttempt, 2, keyWhy, "two words")
	log.Debug("dbg")
	log.With(LogKeyJobID, "w1").WithGroup("g").Info("grouped", keyK, "v")
	log.Log(context.Background(), LevelTrace, "hidden at DEBUG")
	want := "INFO   | test_job_id | test_message\n" +
		"WARN   | no job\n" +
		"ERROR  | j | [batchId=b1] failed attempt=2 why=\"two words\"\n" +
		"DEBUG  | dbg\n" +
		"INFO   | w1 | grouped g.k=v\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestLogLineJSON(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(newLogHandler(&buf, LevelTrace, true))
	log.Info("héllo \"q\" <tag> 😀", LogKeyJobID, "r1")
	log.Log(context.Background(), LevelTrace, "tr\n")
	want := `{"requestId": "r1", "message": "h\u00e9llo \"q\" <tag> \ud83d\ude00", "level": "INFO"}` + "\n" +
		`{"requestId": null, "message": "tr\n", "level": "TRACE"}` + "\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
	for line := range strings.Lines(buf.String()) {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("line is not JSON: %s", line)
		}
	}
}

func TestLogTruncatesLongMessages(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(newLogHandler(&buf, slog.LevelDebug, false))
	msg := strings.Repeat("a", 2048) + strings.Repeat("é", 100) + strings.Repeat("z", 2048)
	log.Info(msg)
	want := "INFO   | " + strings.Repeat("a", 2048) + "\n...TRUNCATED 100 CHARACTERS...\n" + strings.Repeat("z", 2048) + "\n"
	if buf.String() != want {
		t.Errorf("truncation wrong: got %d bytes", buf.Len())
	}
	buf.Reset()
	exact := strings.Repeat("é", 4096)
	log.Info(exact)
	if buf.String() != "INFO   | "+exact+"\n" {
		t.Errorf("a 4,096-character message was changed")
	}
}

func TestLogLevels(t *testing.T) {
	for _, tc := range []struct {
		flag, env string
		jsonMode  bool
		want      string
	}{
		{"", "", false, "DEBUG  | d\nINFO   | i\nWARN   | w\nERROR  | e\n"},
		{"", "warn", false, "WARN   | w\nERROR  | e\n"},
		{"ERROR", "TRACE", false, "ERROR  | e\n"},
		{"trace", "", false, "TRACE  | t\nDEBUG  | d\nINFO   | i\nWARN   | w\nERROR  | e\n"},
		{"NOTSET", "", false, ""},
		{"bogus", "", false, "DEBUG  | d\nINFO   | i\nWARN   | w\nERROR  | e\n"},
		{"INFO", "", true, `{"requestId": null, "message": "i", "level": "INFO"}` + "\n" +
			`{"requestId": null, "message": "w", "level": "WARN"}` + "\n" +
			`{"requestId": null, "message": "e", "level": "ERROR"}` + "\n"},
	} {
		var buf bytes.Buffer
		old := stdout
		stdout = &buf
		env := workerEnv{logLevel: tc.env}
		if tc.jsonMode {
			env.endpointID = "ep"
		}
		log := newLogger(nil, tc.flag, env, stdout)
		stdout = old
		log.Log(context.Background(), LevelTrace, "t")
		log.Debug("d")
		log.Info("i")
		log.Warn("w")
		log.Error("e")
		if buf.String() != tc.want {
			t.Errorf("flag %q env %q json %v: got\n%s\nwant\n%s", tc.flag, tc.env, tc.jsonMode, buf.String(), tc.want)
		}
	}
	base := slog.New(slog.DiscardHandler)
	if newLogger(base, "ERROR", workerEnv{}, stdout) != base {
		t.Errorf("Config.Logger was not used as is")
	}
}

func TestPrintBanner(t *testing.T) {
	var buf bytes.Buffer
	old := stdout
	stdout = &buf
	defer func() { stdout = old }()
	printBanner(stdout)
	if want := "--- Starting Serverless Worker |  Version " + Version + " ---\n"; buf.String() != want {
		t.Errorf("banner %q, want %q", buf.String(), want)
	}
}

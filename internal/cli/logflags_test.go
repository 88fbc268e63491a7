package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/logkey"
)

// TestLogFlags: --log-format json writes one JSON object per line,
// --log-level drops lower levels, --debug wins, and bad values are refused.
func TestLogFlags(t *testing.T) {
	var buf bytes.Buffer
	log, err := (&logFlags{format: "json", level: "warn"}).logger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("dropped")
	log.Warn("kept", logkey.JobID, "j1")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["msg"] != "kept" || line["job_id"] != "j1" || strings.Count(buf.String(), "\n") != 1 {
		t.Fatalf("json log at warn: %q (%v)", buf.String(), err)
	}

	buf.Reset()
	log, err = (&logFlags{format: "text", level: "error", debug: true}).logger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("shown", logkey.Endpoint, "e")
	if got := buf.String(); !strings.Contains(got, "level=DEBUG msg=shown endpoint=e") {
		t.Fatalf("text log with --debug: %q", got)
	}

	for _, f := range []logFlags{{format: "xml", level: "info"}, {format: "text", level: "loud"}} {
		if _, err := f.logger(&buf); err == nil {
			t.Errorf("%+v accepted", f)
		}
	}
}

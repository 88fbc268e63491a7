package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
)

// unitFile is the systemd unit shipped in deploy/systemd.
const unitFile = "systemd/sluice.service"

// TestSystemdUnitVerifies runs `systemd-analyze verify` on the unit (with
// ExecStart pointing at a freshly built sluice, since verify checks that the
// program exists) and fails on any complaint, including unknown keys, which
// verify only warns about. `systemd-analyze security --offline` must rate
// the unit's exposure at 2.0 or below (--threshold is in tenths).
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := testutil.NeedBinary(t, "systemd-analyze")
	dir := t.TempDir()
	bin := filepath.Join(dir, "sluice")
	run(t, "", nil, "go", "build", "-o", bin, "./cmd/sluice")
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/sluice ") {
		t.Fatal("ExecStart does not run /usr/local/bin/sluice")
	}
	path := filepath.Join(dir, "sluice.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/sluice", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security (exposure above 2.0, i.e. 20 on its 0-100 threshold scale?): %v\n%s", err, out)
	}
}

// TestSystemdUnitSettings checks the settings the guide promises: a dynamic
// user whose state directory is the data directory Sluice is given, a
// read-only system, no new privileges, and a stop signal to Sluice alone.
func TestSystemdUnitSettings(t *testing.T) {
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: line %q is not key=value", unitFile, line)
			}
			got[section+"."+k] = append(got[section+"."+k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Service.DynamicUser":      "yes",
		"Service.StateDirectory":   "sluice",
		"Service.ProtectSystem":    "strict",
		"Service.NoNewPrivileges":  "yes",
		"Service.PrivateTmp":       "yes",
		"Service.KillMode":         "mixed",
		"Service.ExecReload":       "/bin/kill -HUP $MAINPID",
		"Service.WorkingDirectory": "/var/lib/sluice",
		"Install.WantedBy":         "multi-user.target",
	} {
		if v := got[k]; len(v) != 1 || v[0] != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	exec := strings.Join(got["Service.ExecStart"], "")
	for _, arg := range []string{" serve ", "--config /etc/sluice/sluice.yaml", "--data-dir /var/lib/" + strings.Join(got["Service.StateDirectory"], "")} {
		if !strings.Contains(exec+" ", arg) {
			t.Errorf("ExecStart %q lacks %q", exec, arg)
		}
	}
}

package deploy

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/version"
)

// TestGoReleaser checks .goreleaser.yaml and builds a snapshot for this
// machine's platform only (the release builds four): the binary reports the
// snapshot version, the commit it was built from and the commit date, as
// stamped through -ldflags.
func TestGoReleaser(t *testing.T) {
	goreleaser := testutil.NeedBinary(t, "goreleaser", filepath.Join(repoRoot, ".bin", "goreleaser"))
	run(t, "", nil, goreleaser, "check")
	bin := filepath.Join(t.TempDir(), "sluice")
	// GoReleaser reads the commit only where git names a remote: give it
	// one for this command (a checkout without a remote would stamp "none").
	remote := []string{"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=remote.origin.url", "GIT_CONFIG_VALUE_0=https://github.com/sluicehq/sluice.git"}
	run(t, "", remote, goreleaser, "build", "--snapshot", "--clean", "--single-target", "--output", bin)

	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("sluice version --json: %v", err)
	}
	var got version.Info
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("sluice version --json: %v: %s", err, out)
	}
	head := strings.TrimSpace(run(t, "", nil, "git", "rev-parse", "HEAD"))
	date := strings.TrimSpace(run(t, "", nil, "git", "show", "-s", "--format=%cI", "HEAD"))
	built, berr := time.Parse(time.RFC3339, got.Date)
	committed, cerr := time.Parse(time.RFC3339, date)
	if !strings.Contains(got.Version, "-snapshot+") || got.Commit != head || berr != nil || cerr != nil || !built.Equal(committed) ||
		got.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("snapshot binary reports %+v; want a -snapshot+ version, commit %s, date of %s", got, head, date)
	}
}

package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/version"
)

func TestVersion(t *testing.T) {
	info := version.Get()
	runSluice(context.Background(), "", "--version").check(t, 0, info.String()+"\n", "")
	r := runSluice(context.Background(), "", "version")
	want := "sluice " + info.Version + "\ncommit:   " + info.Commit + "\nbuilt:    " + info.Date + "\ngo:       " + info.GoVersion + "\nplatform: " + info.Platform + "\n"
	r.check(t, 0, want, "")
	r = runSluice(context.Background(), "", "version", "--json")
	var got version.Info
	if err := json.Unmarshal([]byte(r.out), &got); err != nil || got != info || r.code != 0 {
		t.Errorf("version --json: exit %d, %q (%v), want %+v", r.code, r.out, err, info)
	}
	if r := runSluice(context.Background(), "", "version", "extra"); r.code != exitUsage || !strings.Contains(r.errOut, "unknown command") && !strings.Contains(r.errOut, "accepts 0 arg") {
		t.Errorf("version extra: exit %d, stderr %q", r.code, r.errOut)
	}
}

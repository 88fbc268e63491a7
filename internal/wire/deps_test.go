package wire

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/sluicehq/sluice"

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// TestSDKImportsOnlyStdlib: a worker binary (serverless) and a client link
// the standard library and internal/wire only (ARCHITECTURE.md, "Modules").
func TestSDKImportsOnlyStdlib(t *testing.T) {
	t.Parallel()
	allowed := []string{module + "/serverless", module + "/serverless/internal/exectest", module + "/client", module + "/internal/wire"}
	for _, dep := range goList(t, "-deps", module+"/serverless", module+"/client") {
		first, _, _ := strings.Cut(dep, "/")
		if strings.Contains(first, ".") && !slices.Contains(allowed, dep) {
			t.Errorf("serverless or client depends on %s", dep)
		}
	}
}

// TestEngineKnowsNoHTTP: the engine records webhook deliveries; sending
// them (HTTP) is internal/webhook's job.
func TestEngineKnowsNoHTTP(t *testing.T) {
	t.Parallel()
	imports := goList(t, "-f", `{{join .Imports " "}}`, module+"/internal/engine")
	for _, p := range imports {
		if p == "net/http" || strings.HasPrefix(p, "net/http/") {
			t.Errorf("internal/engine imports %s", p)
		}
	}
}

package testutil

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// Update is the -update flag of every test package: golden files are
// rewritten from the current output instead of compared.
var Update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current output")

// Golden compares got byte for byte with testdata/<name>.golden, or writes
// that file under -update.
func Golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (go test -update writes it): %v", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from its golden file (go test -update rewrites it)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// GoldenText is Golden for text whose trailing newlines do not count: got
// is compared (and written) with exactly one.
func GoldenText(t testing.TB, name string, got []byte) {
	t.Helper()
	Golden(t, name, append(bytes.TrimRight(got, "\n"), '\n'))
}

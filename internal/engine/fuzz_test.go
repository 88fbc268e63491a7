package engine

import (
	"strings"
	"testing"
)

// FuzzToken: any worker id maps to one safe subject token, and different ids
// to different tokens.
func FuzzToken(f *testing.F) {
	for _, s := range []string{"pod-1", "a.b", "*", ">", "", "x" + "61", "with space", "ünï", strings.Repeat("z", 300)} {
		f.Add(s, "pod-1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ta := token(a)
		if strings.ContainsAny(ta, ".*> \t\r\n") || ta == "" {
			t.Fatalf("token(%q) = %q is not a subject token", a, ta)
		}
		if a != b && ta == token(b) {
			t.Fatalf("token(%q) == token(%q) == %q", a, b, ta)
		}
	})
}

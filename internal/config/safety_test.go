package config

import (
	"strings"
	"testing"
)

func TestParseSafetySettings(t *testing.T) {
	src := `
webhooks:
  allow: [10.0.0.0/8, hooks.internal]
rateLimits:
  run: {perSecond: 2000, burst: 5000}
  "*": {perSecond: 2.5}
endpoints:
  - id: a
    stopGraceSeconds: 5
    crashLoopFailAfter: 4
    rateLimits:
      status: {perSecond: 10, burst: 20}
      openai: {perSecond: 1}
      lb: {perSecond: 50}
  - id: b
`
	f, err := Parse([]byte(src), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Webhooks.Allow, ","); got != "10.0.0.0/8,hooks.internal" {
		t.Errorf("webhooks.allow = %s", got)
	}
	if f.RateLimits["run"] != (RateLimit{2000, 5000}) || f.RateLimits["*"] != (RateLimit{2.5, 3}) {
		t.Errorf("rateLimits = %+v", f.RateLimits)
	}
	a, b := f.Endpoint("a"), f.Endpoint("b")
	if a.StopGraceSeconds != 5 || a.CrashLoopFailAfter != 4 || a.RateLimits["status"] != (RateLimit{10, 20}) ||
		a.RateLimits["openai"] != (RateLimit{1, 1}) || a.RateLimits["lb"] != (RateLimit{50, 50}) {
		t.Errorf("endpoint a = %+v", a)
	}
	if b.StopGraceSeconds != DefaultStopGraceSeconds || b.CrashLoopFailAfter != 0 || b.RateLimits != nil {
		t.Errorf("endpoint b defaults = %+v", b)
	}

	for src, want := range map[string]string{
		"webhooks:\n  allow: [\"10.0.0.0/99\"]\nendpoints:\n  - id: a\n":           `f.yaml:2: webhooks.allow[0]: allow entry "10.0.0.0/99"`,
		"rateLimits:\n  runz: {perSecond: 1}\nendpoints:\n  - id: a\n":             `f.yaml:2: rateLimits.runz: "runz" is not a client route`,
		"rateLimits:\n  run: {perSecond: 0}\nendpoints:\n  - id: a\n":              `f.yaml:2: rateLimits.run.perSecond: 0 is not a rate`,
		"rateLimits:\n  run: {perSecond: 1, brust: 2}\nendpoints:\n  - id: a\n":    `f.yaml:2: rateLimits.run.brust: unknown field`,
		"endpoints:\n  - id: a\n    stopGraceSeconds: 0\n":                         `f.yaml:3: endpoints[0].stopGraceSeconds: 0 is not between 1 and 3600`,
		"endpoints:\n  - id: a\n    crashLoopFailAfter: -1\n":                      `f.yaml:3: endpoints[0].crashLoopFailAfter: -1 is not between 0 (off)`,
		"endpoints:\n  - id: a\n    rateLimits:\n      job-take: {perSecond: 1}\n": `f.yaml:4: endpoints[0].rateLimits.job-take: "job-take" is not a client route`,
	} {
		_, err := Parse([]byte(src), "f.yaml")
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: %v\nwant prefix %s", src, err, want)
		}
	}
}

// TestReadmeSafetyExample parses the README's webhooks and rateLimits
// example, so it stays valid.
func TestReadmeSafetyExample(t *testing.T) {
	f, err := Parse([]byte(readmeYAML(t, "rateLimits:")), "README.md")
	if err != nil {
		t.Fatal(err)
	}
	if f.RateLimits["purge-queue"] != (RateLimit{0.2, 2}) || f.Endpoint("sd").CrashLoopFailAfter != 5 {
		t.Errorf("parsed %+v", f)
	}
}

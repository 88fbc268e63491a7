package netguard

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"testing"
)

// FuzzCheckURL: CheckURL never panics, and a URL it accepts is an http(s)
// URL whose literal address, when it has one, is public.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1/", "https://example.com/hook", "http://[::ffff:10.0.0.1]:80/",
		"http://[fe80::1%25eth0]/", "http://0x7f.1/", "http://2130706433/", "http://localhost./",
		"http://user:pw@169.254.169.254/", "http:///x", "//evil", "http://a.example:99999/",
	} {
		f.Add(s)
	}
	res := &fakeResolver{names: map[string][]netip.Addr{"a.example": addrs("93.184.215.14")}}
	g, err := New(Config{Resolver: res, OwnAddrs: noOwn})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := g.CheckURL(context.Background(), raw)
		if err != nil {
			if errors.Is(err, ErrRefused) && err.Error() == "" {
				t.Fatal("empty message")
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https") {
			t.Fatalf("accepted %q", raw)
		}
		if a, aerr := netip.ParseAddr(u.Hostname()); aerr == nil && Class(a) != "" {
			t.Fatalf("accepted %q with a %s address", raw, Class(a))
		}
	})
}

package netguard

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeResolver answers from a map; a name it does not know fails.
type fakeResolver struct {
	names map[string][]netip.Addr
	// then, when set, is what names resolve to after the first lookup.
	then  map[string][]netip.Addr
	calls atomic.Int32
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	m := f.names
	if f.calls.Add(1) > 1 && f.then != nil {
		m = f.then
	}
	if a, ok := m[strings.ToLower(host)]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func noOwn() ([]netip.Addr, error) { return nil, nil }

func newGuard(t *testing.T, cfg Config) *Guard {
	t.Helper()
	if cfg.OwnAddrs == nil {
		cfg.OwnAddrs = noOwn
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestCheckURLRefusesNonPublicTargets(t *testing.T) {
	res := &fakeResolver{names: map[string][]netip.Addr{
		"public.example":   addrs("93.184.215.14"),
		"loop.example":     addrs("127.0.0.2"),
		"mixed.example":    addrs("93.184.215.14", "10.1.2.3"),
		"metadata.example": addrs("169.254.169.254"),
		"v6loop.example":   addrs("::1"),
		"mapped.example":   addrs("::ffff:127.0.0.1"),
	}}
	own := func() ([]netip.Addr, error) { return addrs("198.199.1.1"), nil }
	g := newGuard(t, Config{Resolver: res, OwnAddrs: own})
	cases := []struct {
		url    string
		reason string // "" = allowed
	}{
		{"https://public.example/hook", ""},
		{"http://93.184.215.14:8080/x", ""},
		{"http://127.0.0.1:8080/v2/admin/reload", "loopback"},
		{"http://[::1]/", "loopback"},
		{"http://loop.example/", "loopback"},
		{"http://v6loop.example/", "loopback"},
		{"http://mapped.example/", "loopback"},
		{"http://[::ffff:127.0.0.1]/", "loopback"},
		{"http://mixed.example/", "private"},
		{"http://169.254.169.254/latest/meta-data/", "link-local"},
		{"http://metadata.example/", "link-local"},
		{"http://[fe80::1%25eth0]/", "link-local"},
		{"http://0.0.0.0/", "unspecified"},
		{"http://[::]/", "unspecified"},
		{"http://10.0.0.1/", "private"},
		{"http://172.16.5.4/", "private"},
		{"http://192.168.1.1/", "private"},
		{"http://[fd00::1]/", "private"},
		{"http://224.0.0.1/", "multicast"},
		{"http://100.64.0.1/", "reserved"},
		{"http://255.255.255.255/", "reserved"},
		{"http://198.199.1.1/", "server's own"},
	}
	for _, c := range cases {
		err := g.CheckURL(context.Background(), c.url)
		if c.reason == "" {
			if err != nil {
				t.Errorf("%s: %v, want allowed", c.url, err)
			}
			continue
		}
		var re *RefusedError
		if !errors.As(err, &re) || !errors.Is(err, ErrRefused) {
			t.Errorf("%s: err %v, want a RefusedError (%s)", c.url, err, c.reason)
			continue
		}
		if re.Reason != c.reason || !strings.Contains(err.Error(), Setting) {
			t.Errorf("%s: %q, want reason %q and the setting named", c.url, err, c.reason)
		}
	}
	for _, bad := range []string{"", "ftp://x/", "/relative", "http://", "http://:80/"} {
		if err := g.CheckURL(context.Background(), bad); err == nil || errors.Is(err, ErrRefused) {
			t.Errorf("%q: %v, want a bad-URL error", bad, err)
		}
	}
	if err := g.CheckURL(context.Background(), "http://unknown.example/"); err == nil || errors.Is(err, ErrRefused) {
		t.Errorf("unresolvable host: %v, want a lookup error", err)
	}
}

// TestCheckURLLocalhostResolves checks a real name that resolves to
// loopback through the system resolver.
func TestCheckURLLocalhostResolves(t *testing.T) {
	g := newGuard(t, Config{})
	err := g.CheckURL(context.Background(), "http://localhost:8080/v2/admin/reload")
	var re *RefusedError
	if !errors.As(err, &re) || re.Reason != "loopback" {
		t.Fatalf("localhost: %v, want refused as loopback", err)
	}
}

func TestAllowList(t *testing.T) {
	res := &fakeResolver{names: map[string][]netip.Addr{
		"hooks.internal": addrs("10.9.9.9"),
		"other.internal": addrs("10.9.9.9"),
		"lab.internal":   addrs("192.168.7.7"),
	}}
	g := newGuard(t, Config{Resolver: res, Allow: []string{"10.0.0.0/8", "Hooks.Internal.", "127.0.0.1"}})
	for _, ok := range []string{"http://10.1.1.1/", "http://hooks.internal/", "http://HOOKS.internal/x", "http://other.internal/", "http://127.0.0.1:9/"} {
		if err := g.CheckURL(context.Background(), ok); err != nil {
			t.Errorf("%s: %v, want allowed", ok, err)
		}
	}
	for _, no := range []string{"http://127.0.0.2/", "http://lab.internal/", "http://192.168.0.1/"} {
		if err := g.CheckURL(context.Background(), no); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want refused", no, err)
		}
	}
	if err := g.SetAllow([]string{"lab.internal"}); err != nil {
		t.Fatal(err)
	}
	if err := g.CheckURL(context.Background(), "http://lab.internal/"); err != nil {
		t.Errorf("after SetAllow: %v", err)
	}
	if err := g.CheckURL(context.Background(), "http://10.1.1.1/"); !errors.Is(err, ErrRefused) {
		t.Errorf("after SetAllow the old list still applies: %v", err)
	}
	for _, bad := range []string{"10.0.0.0/33", "exa mple", "http://x/", ""} {
		if err := ValidateAllow([]string{bad}); err == nil {
			t.Errorf("ValidateAllow(%q) accepted it", bad)
		}
	}
}

// TestClientRefusesLoopbackAndRedirects posts through the guarded client
// to real servers on loopback.
func TestClientRefusesLoopbackAndRedirects(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer target.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/inner", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()

	post := func(c *http.Client, url string) (*http.Response, error) {
		resp, err := c.Post(url, "application/json", strings.NewReader(`{}`))
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	refusing := newGuard(t, Config{}).Client(5 * time.Second)
	if resp, err := post(refusing, target.URL); !errors.Is(err, ErrRefused) {
		if resp != nil {
			_ = resp.Body.Close()
		}
		t.Fatalf("post to loopback: %v, want refused", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the refused target was reached")
	}

	allowing := newGuard(t, Config{Allow: []string{"127.0.0.0/8"}}).Client(5 * time.Second)
	resp, err := post(allowing, target.URL)
	if err != nil || resp.StatusCode != http.StatusOK || hits.Load() != 1 {
		t.Fatalf("allowed post: %v %v, hits %d", resp, err, hits.Load())
	}
	_ = resp.Body.Close()
	resp, err = post(allowing, redirect.URL)
	if err == nil {
		defer resp.Body.Close()
	}
	if err != nil || resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("redirect: %v %v, want the 307 itself", resp, err)
	}
	if hits.Load() != 1 {
		t.Fatal("the redirect was followed")
	}
}

// TestDialRechecksResolution: a name that resolved to a public address at
// submit and to loopback at delivery is refused when dialled.
func TestDialRechecksResolution(t *testing.T) {
	res := &fakeResolver{
		names: map[string][]netip.Addr{"rebind.example": addrs("93.184.215.14")},
		then:  map[string][]netip.Addr{"rebind.example": addrs("127.0.0.1")},
	}
	g := newGuard(t, Config{Resolver: res})
	if err := g.CheckURL(context.Background(), "http://rebind.example/"); err != nil {
		t.Fatalf("first lookup: %v", err)
	}
	_, err := g.DialContext(context.Background(), "tcp", "rebind.example:80")
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("dial after the name moved to loopback: %v, want refused", err)
	}
}

func TestServersOwnAddressesByDefault(t *testing.T) {
	own, err := interfaceAddrs()
	if err != nil || len(own) == 0 {
		t.Skipf("no interface addresses: %v", err)
	}
	g := newGuard(t, Config{OwnAddrs: interfaceAddrs})
	for _, a := range own {
		if err := g.CheckAddr(a); !errors.Is(err, ErrRefused) {
			t.Errorf("own address %s: %v, want refused", a, err)
		}
	}
}

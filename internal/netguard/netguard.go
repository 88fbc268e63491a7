// Package netguard decides which network targets the server may call on a
// client's behalf (webhooks): by default none on loopback, link-local
// (169.254.169.254, the cloud metadata address, included), private,
// unspecified, multicast, reserved or the server's own addresses. An allow
// list of CIDRs and host names opens chosen targets.
//
// A URL is checked when a job is submitted (CheckURL) and every address is
// checked again when it is dialled (Guard.DialContext), since a name may
// resolve differently by then. The http.Client from Guard.Client dials only
// through that check and never follows redirects.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Setting names the config setting that opens a target, for messages.
const Setting = "webhooks: {allow: [...]}"

// ErrRefused is wrapped by every error for a target the guard refuses.
var ErrRefused = errors.New("webhook target refused")

// RefusedError says which address of which host was refused and why.
type RefusedError struct {
	Host   string     // host as given (name or literal)
	Addr   netip.Addr // the refused address
	Reason string     // e.g. "loopback", "private"
}

func (e *RefusedError) Error() string {
	host := e.Host
	if len(host) > 100 {
		host = host[:100] + "..."
	}
	if e.Addr.String() == host {
		return fmt.Sprintf("%s is a %s address: refused (allow it in the config with %s)", host, e.Reason, Setting)
	}
	return fmt.Sprintf("%s resolves to %s, a %s address: refused (allow it in the config with %s)", host, e.Addr, e.Reason, Setting)
}

// Unwrap makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Resolver looks up a host's addresses. *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config configures New. The zero value refuses every non-public target.
type Config struct {
	// Allow lists CIDRs ("10.0.0.0/8"), single addresses ("127.0.0.1") and
	// host names ("hooks.internal", matched exactly, case-insensitively)
	// that are allowed whatever they resolve to. Default: none.
	Allow []string
	// Resolver resolves host names. Default: net.DefaultResolver.
	Resolver Resolver
	// OwnAddrs returns the server's own addresses, refused too. Default:
	// the addresses of the machine's network interfaces.
	OwnAddrs func() ([]netip.Addr, error)
	// Dialer dials checked addresses. Default: a net.Dialer with a 10 s timeout.
	Dialer *net.Dialer
}

// rules is a parsed allow list.
type rules struct {
	nets  []netip.Prefix
	hosts map[string]bool
}

// Guard checks targets. Its methods are safe for concurrent use.
type Guard struct {
	res    Resolver
	own    func() ([]netip.Addr, error)
	dialer *net.Dialer
	rules  atomic.Pointer[rules]
}

// New returns a guard for cfg, or an error naming a bad allow entry.
func New(cfg Config) (*Guard, error) {
	g := &Guard{res: cfg.Resolver, own: cfg.OwnAddrs, dialer: cfg.Dialer}
	if g.res == nil {
		g.res = net.DefaultResolver
	}
	if g.own == nil {
		g.own = interfaceAddrs
	}
	if g.dialer == nil {
		g.dialer = &net.Dialer{Timeout: 10 * time.Second}
	}
	if err := g.SetAllow(cfg.Allow); err != nil {
		return nil, err
	}
	return g, nil
}

// SetAllow replaces the allow list (a config reload).
func (g *Guard) SetAllow(allow []string) error {
	r, err := parseAllow(allow)
	if err != nil {
		return err
	}
	g.rules.Store(r)
	return nil
}

// ValidateAllow checks an allow list: each entry must be a CIDR, an
// address or a host name.
func ValidateAllow(allow []string) error {
	_, err := parseAllow(allow)
	return err
}

func parseAllow(allow []string) (*rules, error) {
	r := &rules{hosts: map[string]bool{}}
	for _, s := range allow {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			r.nets = append(r.nets, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			r.nets = append(r.nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		if !validHostName(s) {
			return nil, fmt.Errorf("allow entry %q is not a CIDR (10.0.0.0/8), an address or a host name", s)
		}
		r.hosts[normHost(s)] = true
	}
	return r, nil
}

func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, c := range s {
		ok := c == '-' || c == '.' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

func normHost(s string) string { return strings.TrimSuffix(strings.ToLower(s), ".") }

// CheckURL checks a webhook URL: an absolute http or https URL whose host
// is allowed by name, or resolves only to allowed addresses. The error
// wraps ErrRefused for a refused target; other errors describe a bad URL or
// a failed lookup.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("not an absolute http or https URL")
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("the URL has no host")
	}
	_, err = g.resolve(ctx, host)
	return err
}

// resolve returns host's addresses when every one is allowed (or the host
// is allowed by name: then its addresses are not checked).
func (g *Guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	r := g.rules.Load()
	if a, err := netip.ParseAddr(host); err == nil {
		if err := g.checkAddr(r, host, a); err != nil {
			return nil, err
		}
		return []netip.Addr{a.Unmap()}, nil
	}
	allowedName := r.hosts[normHost(host)]
	addrs, err := g.res.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolve %s: no address", host)
	}
	if allowedName {
		return addrs, nil
	}
	for _, a := range addrs {
		if err := g.checkAddr(r, host, a); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

// CheckAddr reports whether a may be dialled (nil) or why not.
func (g *Guard) CheckAddr(a netip.Addr) error {
	return g.checkAddr(g.rules.Load(), a.String(), a)
}

func (g *Guard) checkAddr(r *rules, host string, a netip.Addr) error {
	a = a.Unmap().WithZone("")
	for _, p := range r.nets {
		if p.Contains(a) {
			return nil
		}
	}
	if reason := Class(a); reason != "" {
		return &RefusedError{Host: host, Addr: a, Reason: reason}
	}
	own, err := g.own()
	if err != nil {
		return fmt.Errorf("list the server's own addresses: %w", err)
	}
	for _, o := range own {
		if o.Unmap().WithZone("") == a {
			return &RefusedError{Host: host, Addr: a, Reason: "server's own"}
		}
	}
	return nil
}

// reserved are special-purpose ranges that no public webhook lives in.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may reach any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local NAT64
	netip.MustParsePrefix("2002::/16"),       // 6to4: may reach any IPv4 address
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("100::/64"),        // discard
}

// Class names the kind of a non-public address ("loopback", "private",
// ...), or returns "" for a public one.
func Class(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	switch {
	case !a.IsValid():
		return "invalid"
	case a.IsLoopback():
		return "loopback"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast"
	case a.IsPrivate():
		return "private"
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return "reserved"
		}
	}
	return ""
}

func interfaceAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out, nil
}

// DialContext dials address (host:port) only at addresses the guard allows,
// resolving a name itself so the address checked is the address dialled.
// Use it as an http.Transport's DialContext.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	addrs, err := g.resolve(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	var errs []error
	for _, a := range addrs {
		c, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// Client returns an http.Client that dials through the guard, uses no
// proxy (a proxy would dial for it, unchecked) and does not follow
// redirects: a 3xx is returned as the response.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         g.DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

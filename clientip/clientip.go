// Package clientip finds the address of the client behind a request, trusting
// X-Forwarded-For only as far as it was written by configured proxies.
//
// Limits keyed by client address are only as good as that address. A visitor
// can send any X-Forwarded-For header, so the header counts only when the
// peer that sent the request is a trusted proxy. Each proxy appends the
// address it saw, so the entries are read from the right, and the first
// address that no trusted proxy owns is the client. Whatever a visitor
// prepended lies to the left of that point and is never read.
//
// NOTE: only X-Forwarded-For is read. The Forwarded header (RFC 7239) and
// X-Real-IP are ignored, so the proxies in front must set X-Forwarded-For.
package clientip

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds client addresses given a set of trusted proxy prefixes.
// It is safe for concurrent use. A nil *Resolver trusts no proxy.
type Resolver struct {
	trusted []netip.Prefix
}

// EntryError is the error of New for one trusted proxy entry that it
// rejects.
type EntryError struct {
	Entry string // the entry as given to New
	Err   error  // the reason it is not a prefix
}

// Error returns the package, the entry and the reason.
func (e *EntryError) Error() string {
	return fmt.Sprintf("clientip: trusted proxy %q: %v", e.Entry, e.Err)
}

// Unwrap returns the reason.
func (e *EntryError) Unwrap() error { return e.Err }

// New returns a Resolver that trusts the peers in trustedProxies. Each entry
// is a CIDR prefix ("10.0.0.0/8", "2001:db8::/32") or a single address
// ("10.0.0.1" is 10.0.0.1/32, "::1" is ::1/128). A prefix with host bits set
// is masked ("10.1.2.3/8" is 10.0.0.0/8), and IPv4-mapped IPv6 forms are
// read as IPv4. Prefixes of length 0 are rejected, because trusting every
// peer would let every client forge its address. An empty list trusts no
// proxy. The error joins one *EntryError for each invalid entry.
func New(trustedProxies []string) (*Resolver, error) {
	var problems []error
	var trusted []netip.Prefix
	for _, entry := range trustedProxies {
		prefix, err := parsePrefix(strings.TrimSpace(entry))
		if err != nil {
			problems = append(problems, &EntryError{Entry: entry, Err: err})
			continue
		}
		trusted = append(trusted, prefix)
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return &Resolver{trusted: trusted}, nil
}

// parsePrefix reads one trusted proxy entry.
func parsePrefix(entry string) (netip.Prefix, error) {
	if entry == "" {
		return netip.Prefix{}, errors.New("empty entry")
	}

	var prefix netip.Prefix
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return netip.Prefix{}, errors.New("not a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32")
		}
		prefix = p
	} else {
		addr, err := netip.ParseAddr(entry)
		if err != nil {
			return netip.Prefix{}, errors.New("not an IP address or CIDR prefix")
		}
		if addr.Zone() != "" {
			return netip.Prefix{}, errors.New("an IPv6 zone is not supported")
		}
		prefix = netip.PrefixFrom(addr, addr.BitLen())
	}

	// Client addresses are unmapped before matching, so a mapped prefix
	// must be unmapped too or it would never match.
	if prefix.Addr().Is4In6() && prefix.Bits() >= 96 {
		prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()-96)
	}
	if prefix.Bits() == 0 {
		return netip.Prefix{}, errors.New("a prefix of length 0 trusts every peer, so any client could forge its address")
	}
	return prefix.Masked(), nil
}

// ClientIP returns the address of the client that sent req.
//
// When the peer (req.RemoteAddr) is not a trusted proxy, ClientIP returns the
// peer. Otherwise it walks the X-Forwarded-For entries, over all header
// lines, from right to left, skips those owned by trusted proxies and
// returns the first other one. Entries may carry a port ("192.0.2.1:1234",
// "[2001:db8::1]:443") and empty list elements are ignored. An entry that
// is not an address ("unknown", an IPv6 address with a zone, garbage) ends
// the walk. The result is then the trusted address just to its right, or
// the peer. When every entry is trusted the result is the leftmost one, and
// when there are no entries it is the peer.
//
// IPv4-mapped IPv6 addresses are returned as IPv4, and the peer's IPv6 zone
// is dropped. When req.RemoteAddr holds no IP address (a Unix socket, say),
// the result is the zero netip.Addr, which is not valid.
func (r *Resolver) ClientIP(req *http.Request) netip.Addr {
	peer := Peer(req)
	if !r.trusts(peer) {
		return peer
	}

	found := peer
	values := req.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		list := values[i]
		for list != "" {
			var entry string
			if comma := strings.LastIndexByte(list, ','); comma >= 0 {
				list, entry = list[:comma], list[comma+1:]
			} else {
				list, entry = "", list
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			addr, ok := parseForwarded(entry)
			if !ok {
				return found
			}
			if !r.trusts(addr) {
				return addr
			}
			found = addr
		}
	}
	return found
}

// TrustedPeer reports whether the peer that sent req (req.RemoteAddr) is a
// trusted proxy.
func (r *Resolver) TrustedPeer(req *http.Request) bool {
	return r.trusts(Peer(req))
}

// trusts reports whether addr belongs to a trusted proxy.
func (r *Resolver) trusts(addr netip.Addr) bool {
	if r == nil || !addr.IsValid() {
		return false
	}
	for _, prefix := range r.trusted {
		if prefix.Contains(addr) {
			return true
		}
	}
	return false
}

// Peer returns the address of the peer that sent req, read from
// req.RemoteAddr with or without a port, unmapped and without a zone. It
// returns the zero netip.Addr when RemoteAddr holds no IP address.
func Peer(req *http.Request) netip.Addr {
	if addrPort, err := netip.ParseAddrPort(req.RemoteAddr); err == nil {
		return canonical(addrPort.Addr())
	}
	if addr, err := netip.ParseAddr(req.RemoteAddr); err == nil {
		return canonical(addr)
	}
	return netip.Addr{}
}

// parseForwarded reads one X-Forwarded-For entry: an address, an address
// with a port, or a bracketed IPv6 address with or without a port. Entries
// with an IPv6 zone are rejected, since no proxy has a reason to send one.
func parseForwarded(entry string) (netip.Addr, bool) {
	var addr netip.Addr
	switch {
	case strings.HasPrefix(entry, "[") && strings.HasSuffix(entry, "]"):
		a, err := netip.ParseAddr(entry[1 : len(entry)-1])
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		addr = a
	case strings.HasPrefix(entry, "["):
		addrPort, err := netip.ParseAddrPort(entry)
		if err != nil {
			return netip.Addr{}, false
		}
		addr = addrPort.Addr()
	default:
		a, err := netip.ParseAddr(entry)
		if err != nil {
			// The only unbracketed form with a port is IPv4's.
			addrPort, portErr := netip.ParseAddrPort(entry)
			if portErr != nil || !addrPort.Addr().Is4() {
				return netip.Addr{}, false
			}
			a = addrPort.Addr()
		}
		addr = a
	}
	if addr.Zone() != "" {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}

// canonical unmaps addr and drops its zone.
func canonical(addr netip.Addr) netip.Addr {
	return addr.Unmap().WithZone("")
}

package clientip_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/c2cauth/c2cauth/clientip"
)

// proxies is the trusted list for most tests: a load balancer network, one
// CDN address and an IPv6 proxy network.
var proxies = []string{"10.0.0.0/8", "192.0.2.10", "2001:db8:ff::/48"}

// newRequest returns a request from peer carrying the given X-Forwarded-For
// header lines.
func newRequest(peer string, forwardedFor ...string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/v1/auth-code", nil)
	req.RemoteAddr = peer
	for _, value := range forwardedFor {
		req.Header.Add("X-Forwarded-For", value)
	}
	return req
}

func mustNew(t testing.TB, trusted []string) *clientip.Resolver {
	t.Helper()
	r, err := clientip.New(trusted)
	if err != nil {
		t.Fatalf("New(%q): %v", trusted, err)
	}
	return r
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		name         string
		peer         string
		forwardedFor []string
		want         string
	}{
		{"untrusted peer", "198.51.100.7:5000", nil, "198.51.100.7"},
		{"untrusted peer ignores header", "198.51.100.7:5000", []string{"203.0.113.1"}, "198.51.100.7"},
		{"trusted peer without header", "10.1.2.3:5000", nil, "10.1.2.3"},
		{"one proxy", "10.1.2.3:5000", []string{"203.0.113.1"}, "203.0.113.1"},
		{"two proxies", "10.1.2.3:5000", []string{"203.0.113.1, 10.9.9.9"}, "203.0.113.1"},
		{"three proxies", "10.1.2.3:5000", []string{"203.0.113.1, 192.0.2.10, 10.9.9.9"}, "203.0.113.1"},
		{"spoofed leftmost", "10.1.2.3:5000", []string{"1.2.3.4, 203.0.113.1"}, "203.0.113.1"},
		{"spoofed trusted leftmost", "10.1.2.3:5000", []string{"10.0.0.1, 203.0.113.1"}, "203.0.113.1"},
		{"spoofed garbage leftmost", "10.1.2.3:5000", []string{"<script>, 203.0.113.1"}, "203.0.113.1"},
		{"spoofed separate line", "10.1.2.3:5000", []string{"1.2.3.4", "203.0.113.1"}, "203.0.113.1"},
		{"lines joined", "10.1.2.3:5000", []string{"203.0.113.1", "10.9.9.9"}, "203.0.113.1"},
		{"all trusted", "10.1.2.3:5000", []string{"10.7.7.7, 192.0.2.10"}, "10.7.7.7"},
		{"garbage after trusted", "10.1.2.3:5000", []string{"1.2.3.4, unknown, 10.7.7.7"}, "10.7.7.7"},
		{"garbage rightmost", "10.1.2.3:5000", []string{"1.2.3.4, unknown"}, "10.1.2.3"},
		{"empty elements", "10.1.2.3:5000", []string{" , 203.0.113.1 ,, "}, "203.0.113.1"},
		{"empty header", "10.1.2.3:5000", []string{""}, "10.1.2.3"},
		{"ipv4 with port", "10.1.2.3:5000", []string{"203.0.113.1:1234"}, "203.0.113.1"},
		{"ipv6", "10.1.2.3:5000", []string{"2001:db8:1::1"}, "2001:db8:1::1"},
		{"ipv6 bracketed", "10.1.2.3:5000", []string{"[2001:db8:1::1]"}, "2001:db8:1::1"},
		{"ipv6 with port", "10.1.2.3:5000", []string{"[2001:db8:1::1]:443"}, "2001:db8:1::1"},
		{"ipv6 trusted proxy", "[2001:db8:ff::2]:443", []string{"2001:db8:1::1, 2001:db8:ff:1::9"}, "2001:db8:1::1"},
		{"ipv6 untrusted peer", "[2001:db8:1::2]:443", []string{"203.0.113.1"}, "2001:db8:1::2"},
		{"mapped peer", "[::ffff:10.1.2.3]:5000", []string{"203.0.113.1"}, "203.0.113.1"},
		{"mapped entry", "10.1.2.3:5000", []string{"::ffff:203.0.113.1"}, "203.0.113.1"},
		{"mapped trusted entry", "10.1.2.3:5000", []string{"203.0.113.1, ::ffff:10.9.9.9"}, "203.0.113.1"},
		{"bracketed ipv4", "10.1.2.3:5000", []string{"1.2.3.4, [203.0.113.1]"}, "10.1.2.3"},
		{"ipv6 port unbracketed", "10.1.2.3:5000", []string{"1.2.3.4, 2001:db8::1:443x"}, "10.1.2.3"},
		{"zone", "10.1.2.3:5000", []string{"1.2.3.4, fe80::1%eth0"}, "10.1.2.3"},
		{"bad port", "10.1.2.3:5000", []string{"1.2.3.4, 203.0.113.1:99999"}, "10.1.2.3"},
		{"peer without port", "10.1.2.3", []string{"203.0.113.1"}, "203.0.113.1"},
		{"peer with zone", "[fe80::1%eth0]:80", nil, "fe80::1"},
		{"single address trusted", "192.0.2.10:80", []string{"203.0.113.1"}, "203.0.113.1"},
		{"neighbour of single address", "192.0.2.11:80", []string{"203.0.113.1"}, "192.0.2.11"},
	}
	r := mustNew(t, proxies)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.ClientIP(newRequest(tt.peer, tt.forwardedFor...))
			if want := netip.MustParseAddr(tt.want); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestClientIPNoPeerAddress(t *testing.T) {
	for _, peer := range []string{"", "@", "/run/c2cauth.sock", "example.com:80"} {
		t.Run(peer, func(t *testing.T) {
			got := mustNew(t, proxies).ClientIP(newRequest(peer, "203.0.113.1"))
			if got.IsValid() {
				t.Errorf("got %v, want the zero address", got)
			}
		})
	}
}

func TestClientIPNoTrustedProxies(t *testing.T) {
	for name, r := range map[string]*clientip.Resolver{
		"empty list":  mustNew(t, nil),
		"nil pointer": nil,
	} {
		t.Run(name, func(t *testing.T) {
			req := newRequest("10.1.2.3:5000", "203.0.113.1")
			if got, want := r.ClientIP(req), netip.MustParseAddr("10.1.2.3"); got != want {
				t.Errorf("ClientIP: got %v, want %v", got, want)
			}
			if r.TrustedPeer(req) {
				t.Error("TrustedPeer: got true, want false")
			}
		})
	}
}

func TestTrustedPeer(t *testing.T) {
	tests := []struct {
		peer string
		want bool
	}{
		{"10.0.0.1:80", true},
		{"10.255.255.255:80", true},
		{"11.0.0.1:80", false},
		{"192.0.2.10:80", true},
		{"192.0.2.10", true},
		{"[::ffff:192.0.2.10]:80", true},
		{"192.0.2.9:80", false},
		{"[2001:db8:ff:1234::1]:443", true},
		{"[2001:db8:fe::1]:443", false},
		{"", false},
		{"garbage", false},
	}
	r := mustNew(t, proxies)
	for _, tt := range tests {
		t.Run(tt.peer, func(t *testing.T) {
			if got := r.TrustedPeer(newRequest(tt.peer)); got != tt.want {
				t.Errorf("got %t, want %t", got, tt.want)
			}
		})
	}
}

func TestNewEntries(t *testing.T) {
	tests := []struct {
		entry   string
		trusted string // a peer the entry must trust
		other   string // a peer it must not trust
	}{
		{"10.0.0.1", "10.0.0.1", "10.0.0.2"},
		{" 10.0.0.1 ", "10.0.0.1", "10.0.0.2"},
		{"::1", "::1", "::2"},
		{"10.1.2.3/8", "10.200.0.1", "11.0.0.1"},
		{"2001:db8::/32", "2001:db8:1::1", "2001:db9::1"},
		{"::ffff:10.0.0.1", "10.0.0.1", "10.0.0.2"},
		{"::ffff:10.0.0.0/104", "10.9.9.9", "11.0.0.1"},
		{"0.0.0.0/1", "127.0.0.1", "128.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			r := mustNew(t, []string{tt.entry})
			if !r.TrustedPeer(newRequest(tt.trusted)) {
				t.Errorf("peer %s: got untrusted, want trusted", tt.trusted)
			}
			if r.TrustedPeer(newRequest(tt.other)) {
				t.Errorf("peer %s: got trusted, want untrusted", tt.other)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		entry  string
		reason string
	}{
		{"0.0.0.0/0", "length 0"},
		{"::/0", "length 0"},
		{"10.0.0.0/0", "length 0"},
		{"::ffff:0.0.0.0/96", "length 0"},
		{"", "empty"},
		{"10.0.0.256", "not an IP address"},
		{"10.0.0.0/33", "not a CIDR prefix"},
		{"example.com", "not an IP address"},
		{"10.0.0.0/8/8", "not a CIDR prefix"},
		{"fe80::1%eth0", "zone"},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			r, err := clientip.New([]string{"10.0.0.1", tt.entry})
			if err == nil {
				t.Fatalf("got resolver %v, want an error", r)
			}
			if !strings.Contains(err.Error(), `"`+tt.entry+`"`) {
				t.Errorf("error %q does not name the entry %q", err, tt.entry)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", err, tt.reason)
			}
		})
	}
}

func TestNewReportsEveryEntry(t *testing.T) {
	_, err := clientip.New([]string{"0.0.0.0/0", "10.0.0.1", "bogus", "::/0"})
	if err == nil {
		t.Fatal("got no error, want one")
	}
	for _, entry := range []string{`"0.0.0.0/0"`, `"bogus"`, `"::/0"`} {
		if !strings.Contains(err.Error(), entry) {
			t.Errorf("error %q does not name %s", err, entry)
		}
	}
	if strings.Contains(err.Error(), `"10.0.0.1"`) {
		t.Errorf("error %q names the valid entry 10.0.0.1", err)
	}
}

func TestPeer(t *testing.T) {
	tests := []struct {
		remoteAddr string
		want       netip.Addr
	}{
		{"192.0.2.1:1234", netip.MustParseAddr("192.0.2.1")},
		{"192.0.2.1", netip.MustParseAddr("192.0.2.1")},
		{"[2001:db8::1]:443", netip.MustParseAddr("2001:db8::1")},
		{"2001:db8::1", netip.MustParseAddr("2001:db8::1")},
		{"[::ffff:192.0.2.1]:80", netip.MustParseAddr("192.0.2.1")},
		{"[fe80::1%eth0]:80", netip.MustParseAddr("fe80::1")},
		{"@", netip.Addr{}},
		{"", netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.remoteAddr, func(t *testing.T) {
			if got := clientip.Peer(newRequest(tt.remoteAddr)); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestClientIPServer checks the resolver behind a real listener, where the
// server, not the test, fills in RemoteAddr.
func TestClientIPServer(t *testing.T) {
	r := mustNew(t, []string{"127.0.0.1"})
	got := make(chan netip.Addr, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got <- r.ClientIP(req)
	}))
	defer srv.Close()

	req, err := http.NewRequest(http.MethodPost, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", "1.2.3.4, 203.0.113.1")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if addr, want := <-got, netip.MustParseAddr("203.0.113.1"); addr != want {
		t.Errorf("got %v, want %v", addr, want)
	}
}

// FuzzClientIP checks the invariants of the X-Forwarded-For walk on
// arbitrary headers: no panic, no IPv4-mapped or zoned result, the peer
// when it is untrusted, and the address appended by a trusted proxy
// whatever the client put before it.
func FuzzClientIP(f *testing.F) {
	for _, seed := range []struct{ peer, header string }{
		{"10.1.2.3:5000", "203.0.113.1"},
		{"10.1.2.3:5000", "1.2.3.4, 203.0.113.1, 10.9.9.9"},
		{"10.1.2.3:5000", "[2001:db8::1]:443, 192.0.2.1:1234"},
		{"10.1.2.3:5000", "unknown,,, ::ffff:10.0.0.1"},
		{"[2001:db8:ff::1]:443", "fe80::1%eth0, [::1"},
		{"198.51.100.7:80", "203.0.113.1"},
		{"@", ""},
	} {
		f.Add(seed.peer, seed.header)
	}
	r := mustNew(f, proxies)
	f.Fuzz(func(t *testing.T, peer, header string) {
		req := newRequest(peer, header)
		got := r.ClientIP(req)
		if got.Is4In6() || got.Zone() != "" {
			t.Errorf("got %v, want an unmapped address without a zone", got)
		}
		if !r.TrustedPeer(req) && got != clientip.Peer(req) {
			t.Errorf("untrusted peer %q: got %v, want the peer", peer, got)
		}
		if r.TrustedPeer(req) && !got.IsValid() {
			t.Errorf("trusted peer %q: got the zero address, want a valid one", peer)
		}

		// A trusted proxy appends the address it saw, on the same line or
		// on a new one, and that address wins.
		const visitor = "198.51.100.9"
		want := netip.MustParseAddr(visitor)
		for _, appended := range []*http.Request{
			newRequest("10.1.2.3:5000", header+", "+visitor),
			newRequest("10.1.2.3:5000", header, visitor),
		} {
			if got := r.ClientIP(appended); got != want {
				t.Errorf("header %q then %s: got %v, want %v", header, visitor, got, want)
			}
		}
	})
}

package origin_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/c2cauth/c2cauth/origin"
)

func mustNew(t *testing.T, allowed ...string) *origin.Policy {
	t.Helper()
	p, err := origin.New(allowed)
	if err != nil {
		t.Fatalf("New(%q): %v", allowed, err)
	}
	return p
}

// newRequest returns a POST to the endpoint at host with the given
// Sec-Fetch-Site and Origin headers, each left out when empty.
func newRequest(method, host, site, from string) *http.Request {
	r := httptest.NewRequest(method, "https://"+host+"/v1/auth-code", nil)
	if site != "" {
		r.Header.Set("Sec-Fetch-Site", site)
	}
	if from != "" {
		r.Header.Set("Origin", from)
	}
	return r
}

func TestCheck(t *testing.T) {
	const host = "api.example.com"
	const (
		allowedOrigin = "https://www.example.com"
		sameHost      = "https://api.example.com"
		sameHostHTTP  = "http://api.example.com"
		sibling       = "https://evil.example.com"
		foreign       = "https://attacker.test"
	)
	tests := []struct {
		name    string
		allowed []string
		site    string
		from    string
		want    bool
	}{
		// Sec-Fetch-Site decides when present.
		{"same-origin", nil, "same-origin", sameHost, true},
		{"same-origin foreign origin header", nil, "same-origin", foreign, true},
		{"none", nil, "none", "", true},
		{"cross-site allowed", []string{allowedOrigin}, "cross-site", allowedOrigin, true},
		{"cross-site allowed normalized", []string{"HTTPS://WWW.EXAMPLE.COM:443/"}, "cross-site", allowedOrigin, true},
		{"cross-site not allowed", []string{allowedOrigin}, "cross-site", foreign, false},
		{"cross-site no list", nil, "cross-site", allowedOrigin, false},
		{"cross-site without origin", []string{allowedOrigin}, "cross-site", "", false},
		{"cross-site null", []string{allowedOrigin}, "cross-site", "null", false},
		{"cross-site other scheme", []string{allowedOrigin}, "cross-site", "http://www.example.com", false},
		{"cross-site other port", []string{allowedOrigin}, "cross-site", "https://www.example.com:8443", false},
		{"same-site sibling", []string{allowedOrigin}, "same-site", sibling, false},
		{"same-site allowed", []string{allowedOrigin}, "same-site", allowedOrigin, true},
		{"same-site own host", nil, "same-site", sameHost, false},
		{"unknown site value", []string{allowedOrigin}, "bogus", foreign, false},
		{"unknown site value allowed", []string{allowedOrigin}, "bogus", allowedOrigin, true},

		// Without Sec-Fetch-Site, Origin is compared with Host.
		{"origin is host", nil, "", sameHost, true},
		{"origin is host other scheme", nil, "", sameHostHTTP, true},
		{"origin allowed", []string{allowedOrigin}, "", allowedOrigin, true},
		{"origin uppercase", []string{allowedOrigin}, "", "HTTPS://WWW.EXAMPLE.COM", true},
		{"origin default port", []string{allowedOrigin}, "", "https://www.example.com:443", true},
		{"origin sibling", []string{allowedOrigin}, "", sibling, false},
		{"origin foreign", []string{allowedOrigin}, "", foreign, false},
		{"origin null", []string{allowedOrigin}, "", "null", false},
		{"origin garbage", []string{allowedOrigin}, "", "::not a url::", false},

		// Neither header: not a browser request, or a same-origin one
		// from a browser too old to send either.
		{"no headers", nil, "", "", true},
		{"no headers with list", []string{allowedOrigin}, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, tt.allowed...)
			err := p.Check(newRequest(http.MethodPost, host, tt.site, tt.from))
			if tt.want && err != nil {
				t.Errorf("got %v, want allowed", err)
			}
			if !tt.want && !errors.Is(err, origin.ErrCrossOrigin) {
				t.Errorf("got %v, want ErrCrossOrigin", err)
			}
		})
	}
}

func TestCheckSafeMethods(t *testing.T) {
	p := mustNew(t)
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodOptions} {
		if err := p.Check(newRequest(method, "api.example.com", "cross-site", "https://attacker.test")); err != nil {
			t.Errorf("%s: got %v, want allowed", method, err)
		}
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if err := p.Check(newRequest(method, "api.example.com", "cross-site", "https://attacker.test")); err == nil {
			t.Errorf("%s: got allowed, want rejected", method)
		}
	}
}

func TestCheckError(t *testing.T) {
	p := mustNew(t, "https://www.example.com")
	tests := []struct {
		name string
		site string
		from string
		want []string
	}{
		{"with fetch metadata", "cross-site", "https://attacker.test", []string{`"https://attacker.test"`, `"cross-site"`, "not an allowed origin"}},
		{"without fetch metadata", "", "https://attacker.test", []string{`"https://attacker.test"`, `"api.example.com"`, "neither the host"}},
		{"long origin", "cross-site", "https://" + strings.Repeat("a", 5000) + ".test", []string{"..."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(newRequest(http.MethodPost, "api.example.com", tt.site, tt.from))
			if err == nil {
				t.Fatal("got nil, want an error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %s", err, want)
				}
			}
			if len(err.Error()) > 500 {
				t.Errorf("got an error of %d bytes, want a short one", len(err.Error()))
			}
		})
	}
}

func TestCheckDoesNotChangeRequest(t *testing.T) {
	p := mustNew(t, "https://www.example.com")
	r := newRequest(http.MethodPost, "api.example.com", "cross-site", "HTTPS://WWW.EXAMPLE.COM:443")
	if err := p.Check(r); err != nil {
		t.Fatalf("got %v, want allowed", err)
	}
	if got, want := r.Header.Get("Origin"), "HTTPS://WWW.EXAMPLE.COM:443"; got != want {
		t.Errorf("got Origin %q after Check, want %q", got, want)
	}
}

// TestCheckServer sends browser-like requests over a real listener, where
// the Host header comes from the URL the client dialed.
func TestCheckServer(t *testing.T) {
	p := mustNew(t, "https://www.example.com")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.Check(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	tests := []struct {
		name string
		site string
		from string
		want int
	}{
		{"own origin", "", srv.URL, http.StatusNoContent},
		{"allowed", "cross-site", "https://www.example.com", http.StatusNoContent},
		{"foreign", "cross-site", "https://attacker.test", http.StatusForbidden},
		{"foreign old browser", "", "https://attacker.test", http.StatusForbidden},
		{"curl", "", "", http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/auth-code", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.site != "" {
				req.Header.Set("Sec-Fetch-Site", tt.site)
			}
			if tt.from != "" {
				req.Header.Set("Origin", tt.from)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("got status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestNewNormalizes(t *testing.T) {
	tests := []struct {
		entry string
		want  string
	}{
		{"https://www.example.com", "https://www.example.com"},
		{"HTTPS://WWW.EXAMPLE.COM:443/", "https://www.example.com"},
		{"https://www.example.com/", "https://www.example.com"},
		{" https://www.example.com ", "https://www.example.com"},
		{"http://example.com:80", "http://example.com"},
		{"http://example.com:443", "http://example.com:443"},
		{"https://example.com:80", "https://example.com:80"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://localhost:08080", "http://localhost:8080"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"https://[2001:DB8:0::1]", "https://[2001:db8::1]"},
		{"https://xn--bcher-kva.example", "https://xn--bcher-kva.example"},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			p := mustNew(t, tt.entry)
			if got := p.Origins(); !slices.Equal(got, []string{tt.want}) {
				t.Errorf("got %q, want [%q]", got, tt.want)
			}
			if !p.AllowCORS(tt.want) {
				t.Errorf("AllowCORS(%q): got false, want true", tt.want)
			}
		})
	}
}

func TestNewDeduplicates(t *testing.T) {
	p := mustNew(t, "https://a.example", "HTTPS://A.EXAMPLE:443/", "https://b.example")
	if got, want := p.Origins(), []string{"https://a.example", "https://b.example"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		entry  string
		reason string
	}{
		{"*", "wildcard"},
		{"https://*.example.com", "wildcard"},
		{"https://www.example.*", "wildcard"},
		{"null", "null origin"},
		{"NULL", "null origin"},
		{"", "empty"},
		{"   ", "empty"},
		{"www.example.com", "missing scheme"},
		{"//www.example.com", "missing scheme"},
		{"ftp://www.example.com", `scheme "ftp"`},
		{"https:www.example.com", "missing host"},
		{"https://", "missing host"},
		{"https://:8080", "missing host"},
		{"https://user:pass@www.example.com", "user information"},
		{"https://www.example.com/app", `path "/app"`},
		{"https://www.example.com//", `path "//"`},
		{"https://www.example.com?x=1", "query"},
		{"https://www.example.com/?", "query"},
		{"https://www.example.com#top", "fragment"},
		{"https://www.example.com:0", "between 1 and 65535"},
		{"https://www.example.com:70000", "between 1 and 65535"},
		{"https://www.example.com:", "empty port"},
		{"https://www.example.com:abc", "invalid URL"},
		{"https://bücher.example", "xn--"},
		{"https://www.ex%41mple.com", "percent-encoding"},
		{"https://www.example.com\\@evil.test", "backslashes"},
		{"https://[fe80::1%25eth0]", "percent-encoding"},
		{"https://[::1", "invalid URL"},
		{"https://[1.2.3.4]", "invalid URL"},
		{"https://www example.com", "invalid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			p, err := origin.New([]string{"https://ok.example", tt.entry})
			if err == nil {
				t.Fatalf("got origins %q, want an error", p.Origins())
			}
			if !strings.Contains(err.Error(), strconv.Quote(tt.entry)) {
				t.Errorf("error %q does not name the entry", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", err, tt.reason)
			}
		})
	}
}

func TestNewReportsEveryEntry(t *testing.T) {
	_, err := origin.New([]string{"*", "https://ok.example", "null", "ftp://x.example"})
	if err == nil {
		t.Fatal("got no error, want one")
	}
	for _, entry := range []string{`"*"`, `"null"`, `"ftp://x.example"`} {
		if !strings.Contains(err.Error(), entry) {
			t.Errorf("error %q does not name %s", err, entry)
		}
	}
	if strings.Contains(err.Error(), "ok.example") {
		t.Errorf("error %q names the valid entry", err)
	}
}

func TestNewEmpty(t *testing.T) {
	p := mustNew(t)
	if got := p.Origins(); len(got) != 0 {
		t.Errorf("got origins %q, want none", got)
	}
	if p.AllowCORS("https://www.example.com") {
		t.Error("AllowCORS: got true with no allowed origins, want false")
	}
}

func TestAllowCORS(t *testing.T) {
	p := mustNew(t, "https://www.example.com", "http://127.0.0.1:8080", "http://[::1]:8080")
	tests := []struct {
		origin string
		want   bool
	}{
		{"https://www.example.com", true},
		{"HTTPS://WWW.EXAMPLE.COM", true},
		{"https://www.example.com:443", true},
		{"https://www.example.com/", true},
		{"http://127.0.0.1:8080", true},
		{"http://[::1]:8080", true},
		{"http://[0:0::1]:8080", true},
		{"http://www.example.com", false},
		{"https://www.example.com:8443", false},
		{"https://example.com", false},
		{"https://sub.www.example.com", false},
		{"https://www.example.com.attacker.test", false},
		{"http://127.0.0.1:8081", false},
		{"http://127.0.0.1", false},
		{"https://www.example.com/path", false},
		{"https://user@www.example.com", false},
		{"null", false},
		{"", false},
		{"*", false},
		{"https://*.example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			if got := p.AllowCORS(tt.origin); got != tt.want {
				t.Errorf("got %t, want %t", got, tt.want)
			}
		})
	}
}

func FuzzAllowCORS(f *testing.F) {
	for _, seed := range []string{"https://www.example.com", "HTTPS://WWW.EXAMPLE.COM:443/", "null", "http://[::1]:8080", "https://a%2eb", ""} {
		f.Add(seed)
	}
	p, err := origin.New([]string{"https://www.example.com", "http://[::1]:8080"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value string) {
		if !p.AllowCORS(value) {
			return
		}
		// Whatever passes must name an allowed origin once normalized, so
		// New accepts it and finds the same origin.
		q, err := origin.New([]string{value})
		if err != nil {
			t.Fatalf("AllowCORS(%q) is true, but New rejects it: %v", value, err)
		}
		if got := q.Origins()[0]; !slices.Contains(p.Origins(), got) {
			t.Errorf("AllowCORS(%q) is true for %q, which is not allowed", value, got)
		}
	})
}

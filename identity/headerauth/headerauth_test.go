package headerauth_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/identity/headerauth"
	"github.com/c2cauth/c2cauth/identity/identitytest"
)

// outcome is the kind of result Authenticate gives.
type outcome = identitytest.Outcome

const (
	signedIn        = identitytest.SignedIn
	unauthenticated = identitytest.Unauthenticated
	failed          = identitytest.Failed
)

var classify = identitytest.Classify

// peerIn returns a TrustedPeer that trusts direct peers in prefix.
func peerIn(prefix string) func(r *http.Request) bool {
	trusted := netip.MustParsePrefix(prefix)
	return func(r *http.Request) bool {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return false
		}
		addr, err := netip.ParseAddr(host)
		return err == nil && trusted.Contains(addr.Unmap())
	}
}

func newAuthenticator(t *testing.T, cfg headerauth.Config) *headerauth.Authenticator {
	t.Helper()
	a, err := headerauth.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func TestAuthenticate(t *testing.T) {
	const proxy, visitor = "10.0.0.5:41000", "203.0.113.9:52000"
	tests := []struct {
		name          string
		remoteAddr    string
		header        http.Header
		defaultRegion string
		want          identity.Identity
		wantOutcome   outcome
	}{
		{
			name:       "user from proxy",
			remoteAddr: proxy,
			header:     http.Header{"X-Auth-Request-User": {"alice"}},
			want:       identity.Identity{UserID: "alice"},
		},
		{
			name:       "user and phone from proxy",
			remoteAddr: proxy,
			header:     http.Header{"X-Auth-Request-User": {"alice"}, "X-Auth-Request-Phone": {"+1 415 555 0100"}},
			want:       identity.Identity{UserID: "alice", Phone: "+14155550100"},
		},
		{
			name:          "national phone with region",
			remoteAddr:    proxy,
			header:        http.Header{"X-Auth-Request-User": {"bob"}, "X-Auth-Request-Phone": {"020 7946 0018"}},
			defaultRegion: "GB",
			want:          identity.Identity{UserID: "bob", Phone: "+442079460018"},
		},
		{
			name:       "empty phone",
			remoteAddr: proxy,
			header:     http.Header{"X-Auth-Request-User": {"alice"}, "X-Auth-Request-Phone": {""}},
			want:       identity.Identity{UserID: "alice"},
		},
		{
			name:       "user with spaces and accents",
			remoteAddr: proxy,
			header:     http.Header{"X-Auth-Request-User": {"José Núñez"}},
			want:       identity.Identity{UserID: "José Núñez"},
		},
		{
			name:       "user of maximum length",
			remoteAddr: proxy,
			header:     http.Header{"X-Auth-Request-User": {strings.Repeat("a", headerauth.MaxUserLength)}},
			want:       identity.Identity{UserID: strings.Repeat("a", headerauth.MaxUserLength)},
		},
		{
			name:        "untrusted peer",
			remoteAddr:  visitor,
			header:      http.Header{"X-Auth-Request-User": {"alice"}, "X-Auth-Request-Phone": {"+14155550100"}},
			wantOutcome: unauthenticated,
		},
		{
			name:        "untrusted peer with invalid phone",
			remoteAddr:  visitor,
			header:      http.Header{"X-Auth-Request-User": {"alice"}, "X-Auth-Request-Phone": {"12"}},
			wantOutcome: unauthenticated,
		},
		{
			name:        "malformed peer address",
			remoteAddr:  "proxy",
			header:      http.Header{"X-Auth-Request-User": {"alice"}},
			wantOutcome: unauthenticated,
		},
		{
			name:        "missing user",
			remoteAddr:  proxy,
			header:      http.Header{"X-Auth-Request-Phone": {"+14155550100"}},
			wantOutcome: unauthenticated,
		},
		{
			name:        "empty user",
			remoteAddr:  proxy,
			header:      http.Header{"X-Auth-Request-User": {""}},
			wantOutcome: unauthenticated,
		},
		{
			name:        "blank user",
			remoteAddr:  proxy,
			header:      http.Header{"X-Auth-Request-User": {"  "}},
			wantOutcome: unauthenticated,
		},
		{
			name:        "two users",
			remoteAddr:  proxy,
			header:      http.Header{"X-Auth-Request-User": {"alice", "admin"}},
			wantOutcome: unauthenticated,
		},
		{
			name:        "two phones",
			remoteAddr:  proxy,
			header:      http.Header{"X-Auth-Request-User": {"alice"}, "X-Auth-Request-Phone": {"+14155550100", "+14155550199"}},
			wantOutcome: unauthenticated,
		},
		{
			name:        "user with newline",
			remoteAddr:  proxy,
			header:      http.Header{"X-Auth-Request-User": {"alice\nlevel=admin"}},
			wantOutcome: unauthenticated,
		},
		{
			name:        "user with tab",
			remoteAddr:  proxy,
			header:      http.Header{"X-Auth-Request-User": {"alice\tbob"}},
			wantOutcome: unauthenticated,
		},
		{
			name:        "user with NUL",
			remoteAddr:  proxy,
			header:      http.Header{"X-Auth-Request-User": {"alice\x00"}},
			wantOutcome: unauthenticated,
		},
		{
			name:        "user with invalid UTF-8",
			remoteAddr:  proxy,
			header:      http.Header{"X-Auth-Request-User": {"alice\xff"}},
			wantOutcome: unauthenticated,
		},
		{
			name:        "user too long",
			remoteAddr:  proxy,
			header:      http.Header{"X-Auth-Request-User": {strings.Repeat("a", headerauth.MaxUserLength+1)}},
			wantOutcome: unauthenticated,
		},
		{
			name:        "invalid phone",
			remoteAddr:  proxy,
			header:      http.Header{"X-Auth-Request-User": {"alice"}, "X-Auth-Request-Phone": {"not a number"}},
			wantOutcome: failed,
		},
		{
			name:        "national phone without region",
			remoteAddr:  proxy,
			header:      http.Header{"X-Auth-Request-User": {"alice"}, "X-Auth-Request-Phone": {"020 7946 0018"}},
			wantOutcome: failed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuthenticator(t, headerauth.Config{
				UserHeader:    "X-Auth-Request-User",
				PhoneHeader:   "X-Auth-Request-Phone",
				TrustedPeer:   peerIn("10.0.0.0/8"),
				DefaultRegion: tt.defaultRegion,
			})
			r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", nil)
			r.RemoteAddr = tt.remoteAddr
			for name, values := range tt.header {
				r.Header[name] = values
			}

			got, err := a.Authenticate(r)
			if o := classify(err); o != tt.wantOutcome {
				t.Fatalf("got %v (error %v), want %v", o, err, tt.wantOutcome)
			}
			if got != tt.want {
				t.Errorf("got identity %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAuthenticateIgnoresPhoneWithoutPhoneHeader(t *testing.T) {
	a := newAuthenticator(t, headerauth.Config{UserHeader: "X-Auth-Request-User", TrustedPeer: func(*http.Request) bool { return true }})
	r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", nil)
	r.Header.Set("X-Auth-Request-User", "alice")
	r.Header.Set("X-Auth-Request-Phone", "+14155550100")

	got, err := a.Authenticate(r)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if want := (identity.Identity{UserID: "alice"}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestAuthenticateHeaderNameCase(t *testing.T) {
	a := newAuthenticator(t, headerauth.Config{UserHeader: "x-forwarded-user", TrustedPeer: func(*http.Request) bool { return true }})
	r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", nil)
	r.Header.Set("X-Forwarded-User", "alice")

	got, err := a.Authenticate(r)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if got.UserID != "alice" {
		t.Errorf("got user %q, want %q", got.UserID, "alice")
	}
}

// TestAuthenticateOverTheWire sends real requests from loopback, which the
// first server trusts and the second does not.
func TestAuthenticateOverTheWire(t *testing.T) {
	tests := []struct {
		name    string
		trusted string
		users   []string
		want    string
	}{
		{name: "trusted proxy", trusted: "127.0.0.0/8", users: []string{"alice"}, want: "200 alice"},
		{name: "untrusted peer", trusted: "10.0.0.0/8", users: []string{"alice"}, want: "401"},
		{name: "duplicate header", trusted: "127.0.0.0/8", users: []string{"alice", "admin"}, want: "401"},
		{name: "no header", trusted: "127.0.0.0/8", want: "401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuthenticator(t, headerauth.Config{UserHeader: "X-Auth-Request-User", TrustedPeer: peerIn(tt.trusted)})
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				id, err := a.Authenticate(r)
				if err != nil {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				io.WriteString(w, id.UserID)
			}))
			defer server.Close()

			req, err := http.NewRequest(http.MethodPost, server.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, user := range tt.users {
				req.Header.Add("X-Auth-Request-User", user)
			}
			resp, err := server.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)

			got := strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, body))
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewRejectsConfig(t *testing.T) {
	tests := []struct {
		name   string
		cfg    headerauth.Config
		want   []string
		fields [][]string
	}{
		{name: "empty", cfg: headerauth.Config{}, want: []string{"headerauth: UserHeader is required", "headerauth: TrustedPeer is required"}, fields: [][]string{{"UserHeader"}, {"TrustedPeer"}}},
		{name: "every problem", cfg: headerauth.Config{
			UserHeader:    "X User",
			PhoneHeader:   "X-Phone:",
			DefaultRegion: "XX",
		}, want: []string{"UserHeader", "PhoneHeader", "TrustedPeer", "DefaultRegion"},
			fields: [][]string{{"UserHeader"}, {"PhoneHeader"}, {"TrustedPeer"}, {"DefaultRegion"}}},
		{name: "same header twice", cfg: headerauth.Config{
			UserHeader:  "X-User",
			PhoneHeader: "x-user",
			TrustedPeer: func(*http.Request) bool { return true },
		}, want: []string{"UserHeader and PhoneHeader"}, fields: [][]string{{"UserHeader", "PhoneHeader"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := headerauth.New(tt.cfg)
			if err == nil {
				t.Fatalf("got %v and no error, want an error", a)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got error %q, want it to mention %q", err, want)
				}
			}
			if got := problemFields(t, err); !reflect.DeepEqual(got, tt.fields) {
				t.Errorf("got problems with fields %q, want %q", got, tt.fields)
			}
		})
	}
}

// problemFields returns the fields of each problem in err, an error of
// New, and fails the test for a problem that is not an
// *identity.FieldError of package headerauth.
func problemFields(t *testing.T, err error) [][]string {
	t.Helper()
	return identitytest.ProblemFields(t, "headerauth", err)
}

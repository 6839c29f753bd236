package emulatortest_test

import (
	"net"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestNewServerDefaults(t *testing.T) {
	s := emulatortest.NewServer(emulator.Config{})
	defer s.Close()

	if s.ClientID != "test-client" {
		t.Errorf("got ClientID %q, want test-client", s.ClientID)
	}
	if s.ClientSecret != "test-secret" {
		t.Errorf("got ClientSecret %q, want test-secret", s.ClientSecret)
	}
	if !uuidPattern.MatchString(s.SIPConnection) {
		t.Errorf("got SIPConnection %q, want a UUID", s.SIPConnection)
	}
	if s.Emulator == nil {
		t.Fatal("got nil Emulator")
	}

	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatalf("parse URL %q: %v", s.URL, err)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		t.Errorf("got host %q, want a loopback address", u.Hostname())
	}

	resp, err := s.Client().PostForm(s.TokenURL(), url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {s.ClientID},
		"client_secret": {s.ClientSecret},
	})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("token request with the recorded credentials: got status %d, want 200", resp.StatusCode)
	}
	if got := s.Emulator.Stats().TokenRequests; got != 1 {
		t.Errorf("got TokenRequests %d, want 1", got)
	}
}

func TestNewServerKeepsConfig(t *testing.T) {
	s := emulatortest.NewServer(emulator.Config{
		ClientID:       "site-backend",
		ClientSecret:   "rotated-secret",
		SIPConnections: []string{"sales", "support"},
	})
	defer s.Close()

	if s.ClientID != "site-backend" {
		t.Errorf("got ClientID %q, want site-backend", s.ClientID)
	}
	if s.ClientSecret != "rotated-secret" {
		t.Errorf("got ClientSecret %q, want rotated-secret", s.ClientSecret)
	}
	if s.SIPConnection != "sales" {
		t.Errorf("got SIPConnection %q, want the first connection, sales", s.SIPConnection)
	}
}

func TestGenerateURL(t *testing.T) {
	s := emulatortest.NewServer(emulator.Config{})
	defer s.Close()

	want := s.URL + "/api/v1/sipConnections/a%2Fb/generateAuthenticationCode"
	if got := s.GenerateURL("a/b"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

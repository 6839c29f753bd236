package authcode_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/c2cauth/c2cauth/authcode"
	"github.com/c2cauth/c2cauth/origin"
)

const siteOrigin = "https://www.example.com"

func newCORSFixture(t *testing.T) *fixture {
	t.Helper()
	policy, err := origin.New([]string{siteOrigin})
	if err != nil {
		t.Fatal(err)
	}
	return newFixture(t, func(cfg *authcode.Config) { cfg.Origin = policy })
}

func TestPreflight(t *testing.T) {
	f := newCORSFixture(t)
	tests := []struct {
		name      string
		origin    string
		method    string
		status    int
		allowed   bool
		allowFrom string
	}{
		{"allowed origin", siteOrigin, "POST", 204, true, siteOrigin},
		{"other origin", "https://evil.example", "POST", 403, false, ""},
		{"sibling subdomain", "https://shop.example.com", "POST", 403, false, ""},
		{"null origin", "null", "POST", 403, false, ""},
		{"allowed origin, PUT", siteOrigin, "PUT", 405, false, siteOrigin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodOptions, f.backend.URL+"/v1/auth-code", nil)
			req.Header.Set("Origin", tt.origin)
			req.Header.Set("Access-Control-Request-Method", tt.method)
			req.Header.Set("Access-Control-Request-Headers", "content-type")
			resp := do(t, req)
			readBody(t, resp)
			if resp.StatusCode != tt.status {
				t.Errorf("got status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.allowFrom {
				t.Errorf("got Access-Control-Allow-Origin %q, want %q", got, tt.allowFrom)
			}
			if !slices.Contains(resp.Header.Values("Vary"), "Origin") {
				t.Errorf("got Vary %q, want it to contain Origin", resp.Header.Values("Vary"))
			}
			if tt.allowed {
				if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
					t.Errorf("got Access-Control-Allow-Credentials %q, want true", got)
				}
				if got := resp.Header.Get("Access-Control-Allow-Methods"); got != "POST" {
					t.Errorf("got Access-Control-Allow-Methods %q, want POST", got)
				}
				if got := resp.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "Content-Type") {
					t.Errorf("got Access-Control-Allow-Headers %q, want Content-Type among them", got)
				}
			}
		})
	}
}

func TestCrossOriginPost(t *testing.T) {
	f := newCORSFixture(t)
	tests := []struct {
		name      string
		origin    string
		fetchSite string
		status    int
		allowFrom string
	}{
		{"allowed cross-site", siteOrigin, "cross-site", 200, siteOrigin},
		{"allowed same-site", siteOrigin, "same-site", 200, siteOrigin},
		{"other cross-site", "https://evil.example", "cross-site", 403, ""},
		{"other same-site", "https://shop.example.com", "same-site", 403, ""},
		{"other origin without fetch metadata", "https://evil.example", "", 403, ""},
		{"no browser headers", "", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, f.backend.URL+"/v1/auth-code", strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Test-User", "alice")
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.fetchSite != "" {
				req.Header.Set("Sec-Fetch-Site", tt.fetchSite)
			}
			resp := do(t, req)
			body := readBody(t, resp)
			if resp.StatusCode != tt.status {
				t.Errorf("got status %d, want %d (body %s)", resp.StatusCode, tt.status, body)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.allowFrom {
				t.Errorf("got Access-Control-Allow-Origin %q, want %q", got, tt.allowFrom)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got == "*" {
				t.Error("a credentialed response allows every origin")
			}
		})
	}
}

package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/c2cauth/c2cauth/web"
)

// get fetches path from srv and returns the response with its body read.
func get(t *testing.T, srv *httptest.Server, path string) (*http.Response, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read GET %s: %v", path, err)
	}
	return resp, string(body)
}

func TestHandlerServesPageAndAssets(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()

	tests := []struct {
		path        string
		contentType string
	}{
		{"/", "text/html; charset=utf-8"},
		{"/static/app.js", "text/javascript; charset=utf-8"},
		{"/static/style.css", "text/css; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, srv, tt.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status: got %d, want %d", resp.StatusCode, http.StatusOK)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type: got %q, want %q", got, tt.contentType)
			}
			if body == "" {
				t.Error("body: got empty, want the file")
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy: got %q, want it to contain %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-") {
				t.Errorf("Content-Security-Policy: got %q, want no unsafe- source", csp)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options: got %q, want %q", got, "nosniff")
			}
		})
	}
}

func TestHandlerUnknownAsset(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()

	resp, _ := get(t, srv, "/static/missing.js")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status: got %d, want %d", resp.StatusCode, http.StatusNotFound)
	}
}

// TestPageKeepsToItsPolicy checks what the Content Security Policy would
// otherwise reject only in a browser: inline code and styles, and
// resources from outside.
func TestPageKeepsToItsPolicy(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	_, page := get(t, srv, "/")

	forbidden := []struct {
		name    string
		pattern *regexp.Regexp
	}{
		{"inline script", regexp.MustCompile(`(?i)<script(\s[^>]*)?>\s*[^<\s]`)},
		{"style element", regexp.MustCompile(`(?i)<style\b`)},
		{"style attribute", regexp.MustCompile(`(?i)<[^>]*\sstyle\s*=[^>]*>`)},
		{"event handler attribute", regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=[^>]*>`)},
		{"javascript: URL", regexp.MustCompile(`(?i)javascript:`)},
	}
	for _, f := range forbidden {
		t.Run(f.name, func(t *testing.T) {
			if match := f.pattern.FindString(page); match != "" {
				t.Errorf("got %q in the page, want none", match)
			}
		})
	}

	for _, tag := range regexp.MustCompile(`(?i)<script\b[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(tag, ` src="`) {
			t.Errorf("got script tag %q, want a src attribute", tag)
		}
	}

	// Every resource the page loads comes from its own /static/ folder
	// (the icon is an empty data: URL, so that browsers ask for no
	// /favicon.ico).
	resource := regexp.MustCompile(`(?i)\s(?:src|href)="([^"]*)"`)
	matches := resource.FindAllStringSubmatch(page, -1)
	if len(matches) == 0 {
		t.Fatal("got no src or href in the page, want its script and style sheet")
	}
	for _, m := range matches {
		url := m[1]
		if url == "data:," {
			continue
		}
		t.Run(url, func(t *testing.T) {
			if !strings.HasPrefix(url, "/static/") {
				t.Fatalf("got a resource at %q, want one under /static/", url)
			}
			resp, _ := get(t, srv, url)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status: got %d, want %d", resp.StatusCode, http.StatusOK)
			}
		})
	}
}

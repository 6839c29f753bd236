package livehub_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/internal/clocktest"
	"github.com/c2cauth/c2cauth/livehub"
)

const (
	testClientID     = "test-client"
	testClientSecret = "s3cret+value/with=symbols"
)

// fakeClock is a clock that moves only when Advance is called.
type fakeClock = clocktest.Clock

func newFakeClock() *fakeClock {
	return clocktest.New(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
}

// fakeOptions configures a fakeLiveHub before it starts.
type fakeOptions struct {
	// expiresIn is the expires_in field of token responses, as raw JSON.
	// Empty means 900, and "-" leaves the field out.
	expiresIn string

	// tokenHook, when set, runs first for the nth token request (counted
	// from 1). When it returns true it has written the response.
	tokenHook func(n int, w http.ResponseWriter, r *http.Request) bool

	// generateHook is the same for generate requests.
	generateHook func(n int, w http.ResponseWriter, r *http.Request) bool
}

// recordedRequest is what the fake received in one request.
type recordedRequest struct {
	method string
	path   string // escaped
	header http.Header
	body   string
}

// fakeLiveHub plays Live Hub's two endpoints on a loopback listener. It
// checks every bearer token against the same fake clock as the client and
// fails the test when a token arrives at or after its expiry.
type fakeLiveHub struct {
	t     *testing.T
	clock *fakeClock
	opts  fakeOptions
	srv   *httptest.Server

	mu               sync.Mutex
	tokenRequests    []recordedRequest
	generateRequests []recordedRequest
	tokens           map[string]time.Time // access token to expiry
	tokensIssued     int
}

func newFakeLiveHub(t *testing.T, clock *fakeClock, opts fakeOptions) *fakeLiveHub {
	t.Helper()
	f := &fakeLiveHub{t: t, clock: clock, opts: opts, tokens: make(map[string]time.Time)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", f.handleToken)
	mux.HandleFunc("POST /api/v1/sipConnections/{id}/generateAuthenticationCode", f.handleGenerate)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake Live Hub: unexpected request %s %s", r.Method, r.URL.EscapedPath())
		http.NotFound(w, r)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// client returns a Client aimed at the fake with the test credentials.
func (f *fakeLiveHub) client() *livehub.Client {
	return &livehub.Client{
		BaseURL:      f.srv.URL,
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		Now:          f.clock.Now,
	}
}

func record(r *http.Request) recordedRequest {
	body, _ := io.ReadAll(r.Body)
	return recordedRequest{method: r.Method, path: r.URL.EscapedPath(), header: r.Header.Clone(), body: string(body)}
}

func (f *fakeLiveHub) handleToken(w http.ResponseWriter, r *http.Request) {
	rec := record(r)
	f.mu.Lock()
	f.tokenRequests = append(f.tokenRequests, rec)
	n := len(f.tokenRequests)
	f.mu.Unlock()

	if f.opts.tokenHook != nil && f.opts.tokenHook(n, w, r) {
		return
	}
	form, err := url.ParseQuery(rec.body)
	if err != nil || form.Get("client_id") != testClientID || form.Get("client_secret") != testClientSecret {
		writeJSON(w, http.StatusUnauthorized, `{"error":"invalid_client"}`)
		return
	}

	expiresIn := f.opts.expiresIn
	if expiresIn == "" {
		expiresIn = "900"
	}
	f.mu.Lock()
	f.tokensIssued++
	token := fmt.Sprintf("access-token-%04d-%s", f.tokensIssued, strings.Repeat("x", 24))
	lifetime := 5 * time.Minute // the client's default, for the "-" case
	if seconds, err := strconv.Atoi(strings.Trim(expiresIn, `"`)); err == nil {
		lifetime = time.Duration(seconds) * time.Second
	}
	f.tokens[token] = f.clock.Now().Add(lifetime)
	f.mu.Unlock()

	field := ""
	if expiresIn != "-" {
		field = `,"expires_in":` + expiresIn
	}
	writeJSON(w, http.StatusOK, `{"access_token":"`+token+`","token_type":"Bearer"`+field+`}`)
}

func (f *fakeLiveHub) handleGenerate(w http.ResponseWriter, r *http.Request) {
	rec := record(r)
	f.mu.Lock()
	f.generateRequests = append(f.generateRequests, rec)
	n := len(f.generateRequests)
	f.mu.Unlock()

	if f.opts.generateHook != nil && f.opts.generateHook(n, w, r) {
		return
	}
	token, ok := strings.CutPrefix(rec.header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	expiry, known := f.tokens[token]
	f.mu.Unlock()
	if !ok || !known {
		writeJSON(w, http.StatusUnauthorized, `{"error":"invalid_token"}`)
		return
	}
	if now := f.clock.Now(); !now.Before(expiry) {
		f.t.Errorf("fake Live Hub: token %q used at %v, at or after its expiry %v", token, now, expiry)
		writeJSON(w, http.StatusUnauthorized, `{"error":"invalid_token"}`)
		return
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"authenticationCode":"LHv1_%032x"}`, n))
}

// revokeTokens makes every issued access token invalid.
func (f *fakeLiveHub) revokeTokens() {
	f.mu.Lock()
	clear(f.tokens)
	f.mu.Unlock()
}

func (f *fakeLiveHub) tokenCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tokenRequests)
}

func (f *fakeLiveHub) generateCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.generateRequests)
}

// lastBearer returns the access token of the latest generate request.
func (f *fakeLiveHub) lastBearer() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.generateRequests) == 0 {
		return ""
	}
	return strings.TrimPrefix(f.generateRequests[len(f.generateRequests)-1].header.Get("Authorization"), "Bearer ")
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// respond returns a hook that writes status, headers and body.
func respond(status int, header map[string]string, body string) func(int, http.ResponseWriter, *http.Request) bool {
	return func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		if json.Valid([]byte(body)) {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
		return true
	}
}

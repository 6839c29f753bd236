package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
)

// TestNoSecretsInOutput plants a marked client secret, session cookie and
// bearer token, records every access token and code that Live Hub hands
// out, runs requests that succeed and fail, and looks for any of them whole
// in the log, the error response bodies and the metrics.
func TestNoSecretsInOutput(t *testing.T) {
	const (
		markerSecret = "marker-secret-7f3c9a"
		markerCookie = "marker-cookie-51d2e8"
		markerBearer = "marker-bearer-a9b4c0"
	)
	em := emulatortest.NewServer(emulator.Config{ClientSecret: markerSecret})
	t.Cleanup(em.Close)

	// A proxy in front of the emulator records the tokens and codes it
	// issues.
	var mu sync.Mutex
	var issued []string
	valuePattern := regexp.MustCompile(`"(?:access_token|authenticationCode)":"([^"]+)"`)
	recorder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		em.Emulator.ServeHTTP(rec, r)
		for _, m := range valuePattern.FindAllStringSubmatch(rec.Body.String(), -1) {
			mu.Lock()
			issued = append(issued, m[1])
			mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(recorder.Close)

	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cookie, err := r.Cookie("site_session")
		if err != nil || cookie.Value != markerCookie || r.Header.Get("Authorization") != "Bearer "+markerBearer {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"user":"alice","phone":"+14155550100"}`)
	}))
	t.Cleanup(site.Close)

	p := start(t, map[string]string{"LIVEHUB_CLIENT_SECRET": markerSecret}, "serve",
		"--listen", "127.0.0.1:0",
		"--livehub-url", recorder.URL,
		"--client-id", em.ClientID,
		"--sip-connection", em.SIPConnection,
		"--sip-connections", "sales="+em.SIPConnection+",gone=00000000-0000-4000-8000-000000000000",
		"--auth", "forward", "--forward-url", site.URL,
		"--log-format", "json", "--log-level", "debug",
		"--limit-user", "off", "--limit-ip", "off")
	backendURL := p.waitFor(t, `listening on (http://127\.0\.0\.1:\d+)`)[1]

	var bodies strings.Builder
	send := func(path, contentType, body, cookie string) {
		req, _ := http.NewRequest(http.MethodPost, backendURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Cookie", "site_session="+cookie)
		req.Header.Set("Authorization", "Bearer "+markerBearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			// Only a success may carry a code, and it carries it to the
			// visitor it is for.
			bodies.Write(data)
			bodies.WriteString("\n")
		}
	}
	addFault := func(f emulator.Fault) {
		if err := em.Emulator.AddFault(f); err != nil {
			t.Fatal(err)
		}
	}

	send("/v1/auth-code", "application/json", `{}`, markerCookie)
	send("/v1/auth-code/sales", "application/json", `{"callerPhone":"+14155550100"}`, markerCookie)
	send("/v1/auth-code", "application/json", `{}`, "wrong-"+markerCookie)
	send("/v1/auth-code", "text/plain", `{}`, markerCookie)
	send("/v1/auth-code", "application/json", `{"callerPhone":"+442079460018"}`, markerCookie)
	send("/v1/auth-code/gone", "application/json", `{}`, markerCookie)
	addFault(emulator.Fault{Endpoint: "generate", Status: 503, Count: 5})
	send("/v1/auth-code", "application/json", `{}`, markerCookie)
	em.Emulator.ClearFaults()
	em.Emulator.RevokeTokens()
	send("/v1/auth-code", "application/json", `{}`, markerCookie)
	em.Emulator.RevokeTokens()
	addFault(emulator.Fault{Endpoint: "token", Status: 401})
	send("/v1/auth-code", "application/json", `{}`, markerCookie)
	em.Emulator.ClearFaults()
	send("/v1/auth-code", "application/json", `{}`, markerCookie)

	resp, err := http.Get(backendURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	mu.Lock()
	secrets := append([]string{markerSecret, markerCookie, markerBearer}, issued...)
	mu.Unlock()
	if len(secrets) < 6 {
		t.Fatalf("recorded only %d tokens and codes; the requests did not reach Live Hub", len(secrets)-3)
	}
	outputs := map[string]string{
		"log":             p.stderr.String(),
		"response body":   bodies.String(),
		"metrics":         string(metricsText),
		"standard output": p.stdout.String(),
	}
	for name, text := range outputs {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("the %s contains %q", name, secret)
			}
		}
	}

	// The log is JSON, one object per line.
	for line := range strings.Lines(p.stderr.String()) {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %s", line)
		}
	}
}

func TestMetricsCountCodeRequests(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	p := start(t, map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret},
		append([]string{"serve", "--listen", "127.0.0.1:0", "--auth", "none", "--limit-ip", "off", "--sip-connections", "sales=" + em.SIPConnection}, liveHubArgs(em)...)...)
	backendURL := p.waitFor(t, `listening on (http://127\.0\.0\.1:\d+)`)[1]

	for range 6 {
		request(t, "/v1/auth-code", backendURL)
	}
	for range 4 {
		request(t, "/v1/auth-code/sales", backendURL)
	}
	request(t, "/v1/auth-code/nope", backendURL)

	resp, err := http.Get(backendURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`c2cauth_http_requests_total{method="POST",route="/v1/auth-code",status="200"} 6`,
		`c2cauth_http_requests_total{method="POST",route="/v1/auth-code/{connection}",status="200"} 4`,
		`c2cauth_http_requests_total{method="POST",route="/v1/auth-code/{connection}",status="404"} 1`,
		`c2cauth_auth_codes_issued_total{connection="default"} 6`,
		`c2cauth_auth_codes_issued_total{connection="sales"} 4`,
		`c2cauth_auth_code_rejections_total{reason="unknown_connection"} 1`,
		`c2cauth_livehub_token_fetches_total{kind="foreground",result="ok"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", grepLines(text, "c2cauth_"))
	}
}

// grepLines returns the lines of text that contain substr.
func grepLines(text, substr string) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		if strings.Contains(line, substr) && !strings.HasPrefix(line, "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

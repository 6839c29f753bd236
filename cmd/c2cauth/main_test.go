package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
	"github.com/c2cauth/c2cauth/internal/syncbuf"
)

// program is a running c2cauth started through run, as main starts it.
type program struct {
	stdout, stderr *syncBuffer
	done           chan error
	cancel         context.CancelFunc
}

// start runs c2cauth with args and environment env until the test ends.
func start(t *testing.T, env map[string]string, args ...string) *program {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &program{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1), cancel: cancel}
	getenv := func(key string) string { return env[key] }
	go func() {
		p.done <- run(ctx, append([]string{"c2cauth"}, args...), getenv, p.stdout, p.stderr)
	}()
	t.Cleanup(func() {
		if err := p.stop(t); err != nil {
			t.Errorf("c2cauth %s returned %v", args[0], err)
		}
	})
	return p
}

// stop cancels the program and returns what run returned.
func (p *program) stop(t *testing.T) error {
	p.cancel()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("c2cauth did not stop within 15 s of cancellation")
		return nil
	}
}

// waitFor returns the first match of pattern in the program's standard
// output, waiting for the program to print it.
func (p *program) waitFor(t *testing.T, pattern string) []string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(p.stdout.String()); m != nil {
			return m
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("c2cauth exited with %v before printing %q; stderr:\n%s", err, pattern, p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("c2cauth did not print %q within 10 s; stdout:\n%s", pattern, p.stdout.String())
	return nil
}

func postJSON(t *testing.T, client *http.Client, url, body string) (int, string) {
	t.Helper()
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func TestDevEndToEnd(t *testing.T) {
	p := start(t, nil, "dev", "--listen", "127.0.0.1:0", "--emulator-listen", "127.0.0.1:0")
	backendURL := p.waitFor(t, `demo page\s+(http://127\.0\.0\.1:\d+)/`)[1]
	emulatorURL := p.waitFor(t, `Live Hub emulator\s+(http://127\.0\.0\.1:\d+)`)[1]

	anonymous := &http.Client{}
	status, body := postJSON(t, anonymous, backendURL+"/v1/auth-code", `{}`)
	if status != http.StatusUnauthorized || !strings.Contains(body, `"error":"unauthenticated"`) {
		t.Fatalf("without a session: got %d %s, want 401 with a JSON error", status, body)
	}

	jar, _ := cookiejar.New(nil)
	visitor := &http.Client{Jar: jar}
	status, body = postJSON(t, visitor, backendURL+"/dev/login", `{"user":"alice","phone":"+14155550100"}`)
	if status != http.StatusNoContent {
		t.Fatalf("sign-in: got %d %s, want 204", status, body)
	}

	status, body = postJSON(t, visitor, backendURL+"/v1/auth-code", `{}`)
	if status != http.StatusOK {
		t.Fatalf("code: got %d %s, want 200", status, body)
	}
	var issued struct{ AuthenticationCode string }
	if err := json.Unmarshal([]byte(body), &issued); err != nil {
		t.Fatal(err)
	}

	redeem := `{"authenticationCode":"` + issued.AuthenticationCode + `","callerPhone":"+14155550100"}`
	if status, body = postJSON(t, anonymous, emulatorURL+"/emulator/v1/redeem", redeem); status != http.StatusOK {
		t.Fatalf("first redeem: got %d %s, want 200", status, body)
	}
	if status, body = postJSON(t, anonymous, emulatorURL+"/emulator/v1/redeem", redeem); status != http.StatusConflict {
		t.Fatalf("second redeem: got %d %s, want 409", status, body)
	}

	status, body = postJSON(t, visitor, backendURL+"/dev/logout", `{}`)
	if status != http.StatusNoContent {
		t.Fatalf("sign-out: got %d %s, want 204", status, body)
	}
	if status, _ = postJSON(t, visitor, backendURL+"/v1/auth-code", `{}`); status != http.StatusUnauthorized {
		t.Errorf("after sign-out: got %d, want 401", status)
	}

	if err := p.stop(t); err != nil {
		t.Errorf("dev returned %v after Ctrl-C, want nil", err)
	}
	if strings.Contains(p.stderr.String(), issued.AuthenticationCode) {
		t.Error("the log contains a whole code")
	}
}

func TestDevRejectsCrossOrigin(t *testing.T) {
	p := start(t, nil, "dev", "--listen", "127.0.0.1:0", "--emulator-listen", "127.0.0.1:0")
	backendURL := p.waitFor(t, `demo page\s+(http://127\.0\.0\.1:\d+)/`)[1]

	for _, path := range []string{"/dev/login", "/v1/auth-code"} {
		req, _ := http.NewRequest(http.MethodPost, backendURL+path, strings.NewReader(`{"user":"mallory"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://evil.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s: got %d, want 403", path, resp.StatusCode)
		}
	}
}

func TestDevServesDemoPage(t *testing.T) {
	p := start(t, nil, "dev", "--listen", "127.0.0.1:0", "--emulator-listen", "127.0.0.1:0")
	backendURL := p.waitFor(t, `demo page\s+(http://127\.0\.0\.1:\d+)/`)[1]

	for _, path := range []string{"/", "/static/app.js", "/static/style.css", "/healthz", "/readyz"} {
		resp, err := http.Get(backendURL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: got %d, want 200", path, resp.StatusCode)
		}
		if path == "/" {
			for _, id := range []string{`data-testid="user"`, `data-testid="sign-in"`, `data-testid="call-button"`, `data-testid="call-status"`} {
				if !bytes.Contains(body, []byte(id)) {
					t.Errorf("demo page lacks %s", id)
				}
			}
		}
	}
}

func TestServeAgainstEmulator(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	env := map[string]string{
		"LIVEHUB_CLIENT_SECRET": em.ClientSecret,
		"C2CAUTH_AUTH":          "none",
	}
	p := start(t, env, "serve",
		"--listen", "127.0.0.1:0",
		"--livehub-url", em.URL,
		"--client-id", em.ClientID,
		"--sip-connection", em.SIPConnection,
		"--sip-connections", "sales="+em.SIPConnection+",retired=00000000-0000-4000-8000-000000000000",
		"--caller-phone", "request")
	backendURL := p.waitFor(t, `listening on (http://127\.0\.0\.1:\d+)`)[1]

	tests := []struct {
		path   string
		body   string
		status int
		want   string
	}{
		{"/v1/auth-code", `{}`, 200, `{"authenticationCode":"LHv1_`},
		{"/v1/auth-code/sales", `{"callerPhone":"+442079460018"}`, 200, `{"authenticationCode":"LHv1_`},
		{"/v1/auth-code/retired", `{}`, 502, `\"retired\"`},
		{"/v1/auth-code/other", `{}`, 404, `"unknown_connection"`},
	}
	for _, tt := range tests {
		status, body := postJSON(t, http.DefaultClient, backendURL+tt.path, tt.body)
		if status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("POST %s: got %d %s, want %d with %s", tt.path, status, body, tt.status, tt.want)
		}
	}
	if strings.Contains(p.stderr.String(), em.ClientSecret) {
		t.Error("the log contains the client secret")
	}
}

func TestServeReportsEveryProblem(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := map[string]string{"C2CAUTH_CALLER_PHONE": "sometimes"}
	err := run(context.Background(), []string{"c2cauth", "serve", "--livehub-url", "http://livehub.example", "--default-region", "XX"}, func(k string) string { return env[k] }, &stdout, &stderr)
	if got := exitCode(err); got != 2 {
		t.Fatalf("got exit code %d (%v), want 2", got, err)
	}
	for _, want := range []string{"--livehub-url", "--client-id", "LIVEHUB_CLIENT_SECRET", "--sip-connection", "--auth", "--caller-phone", "--default-region"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		exitCode int
		stdout   string
	}{
		{"version", []string{"version"}, 0, "c2cauth "},
		{"help", []string{"help"}, 0, "Subcommands:"},
		{"no subcommand", nil, 2, ""},
		{"unknown subcommand", []string{"launch"}, 2, ""},
		{"serve help", []string{"serve", "--help"}, 0, ""},
		{"unknown flag", []string{"dev", "--bogus"}, 2, ""},
		{"extra argument", []string{"version", "now"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"c2cauth"}, tt.args...), func(string) string { return "" }, &stdout, &stderr)
			if got := exitCode(err); got != tt.exitCode {
				t.Errorf("got exit code %d (%v), want %d", got, err, tt.exitCode)
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.stdout)
			}
		})
	}
}

func TestServeHelpListsEnvironment(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"c2cauth", "serve", "--help"}, func(string) string { return "" }, &stdout, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-listen", "C2CAUTH_LISTEN", "LIVEHUB_URL", "LIVEHUB_CLIENT_SECRET", "-sip-connections"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help on stdout does not mention %s", want)
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("help wrote to stderr: %s", stderr.String())
	}
}

// syncBuffer is a buffer that the code under test and the test may use at
// the same time.
type syncBuffer = syncbuf.Buffer

func TestDevPolicies(t *testing.T) {
	p := start(t, nil, "dev", "--listen", "127.0.0.1:0", "--emulator-listen", "127.0.0.1:0")
	backendURL := p.waitFor(t, `demo page\s+(http://127\.0\.0\.1:\d+)/`)[1]
	jar, _ := cookiejar.New(nil)
	visitor := &http.Client{Jar: jar}
	if status, body := postJSON(t, visitor, backendURL+"/dev/login", `{"user":"alice","phone":"+14155550100"}`); status != http.StatusNoContent {
		t.Fatalf("sign-in: got %d %s, want 204", status, body)
	}

	send := func(contentType, body string, header map[string]string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, backendURL+"/v1/auth-code", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := visitor.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	tests := []struct {
		name        string
		contentType string
		body        string
		header      map[string]string
		status      int
	}{
		{"cross-site", "application/json", `{}`, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, 403},
		{"text/plain", "text/plain", `{}`, nil, 415},
		{"100 KB body", "application/json", `{"callerPhone":"` + strings.Repeat("1", 100<<10) + `"}`, nil, 413},
		{"broken JSON", "application/json", `{"callerPhone":`, nil, 400},
		{"other phone", "application/json", `{"callerPhone":"+442079460018"}`, nil, 403},
	}
	for _, tt := range tests {
		if resp := send(tt.contentType, tt.body, tt.header); resp.StatusCode != tt.status {
			t.Errorf("%s: got %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
	}

	for i := range 10 {
		if resp := send("application/json", `{}`, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("code %d of 10: got %d, want 200", i+1, resp.StatusCode)
		}
	}
	resp := send("application/json", `{}`, nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("11th code: got %d, want 429", resp.StatusCode)
	}
	if retryAfter := resp.Header.Get("Retry-After"); retryAfter == "" || retryAfter == "0" {
		t.Errorf("11th code: got Retry-After %q, want whole seconds", retryAfter)
	}
}

func TestAuthProblemsNameOptions(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--auth", "jwt", "--jwt-jwks-url", "http://idp.example.com/jwks.json", "--jwt-algorithms", "none"}, []string{"--jwt-jwks-url", "--jwt-issuer", "--jwt-audience", "--jwt-algorithms"}},
		{[]string{"--auth", "forward", "--forward-url", "nope"}, []string{"--forward-url"}},
		{[]string{"--auth", "header", "--trusted-proxies", "10.0.0.1", "--header-user", ""}, []string{"--header-user"}},
	}
	for _, tt := range tests {
		t.Run(tt.args[1], func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"c2cauth", "serve", "--client-id", "a", "--sip-connection", "b"}, tt.args...)
			err := run(context.Background(), args, func(k string) string {
				if k == "LIVEHUB_CLIENT_SECRET" {
					return "secret"
				}
				return ""
			}, &stdout, &stderr)
			if exitCode(err) != 2 {
				t.Fatalf("got %v, want a usage error", err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not name %s:\n%v", want, err)
				}
			}
			if regexp.MustCompile(`(jwtauth|headerauth|forward): [A-Z]`).MatchString(err.Error()) {
				t.Errorf("error names a Go package instead of an option:\n%v", err)
			}
		})
	}
}

func TestOptionsOfAnotherSignInMode(t *testing.T) {
	dir := t.TempDir()
	configFile := filepath.Join(dir, "c2cauth.yaml")
	os.WriteFile(configFile, []byte("header-phone: X-Phone\n"), 0o600)
	env := map[string]string{"LIVEHUB_CLIENT_SECRET": "secret", "C2CAUTH_FORWARD_URL": "http://127.0.0.1:1/session"}
	args := []string{"c2cauth", "serve", "--config", configFile, "--auth", "none", "--jwt-issuer", "https://idp.example.com",
		"--livehub-url", "http://127.0.0.1:1", "--client-id", "site", "--sip-connection", "f399069f-e84f-41e4-ac71-fab2ded73f1c"}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	if got := exitCode(err); got != 2 {
		t.Fatalf("got exit code %d (%v), want 2", got, err)
	}
	for _, want := range []string{
		"--forward-url is set, but --auth is none",
		"--header-phone is set, but --auth is none",
		"--jwt-issuer is set, but --auth is none",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

func TestPolicyProblemsNameOptions(t *testing.T) {
	env := map[string]string{"LIVEHUB_CLIENT_SECRET": "secret"}
	args := []string{"c2cauth", "serve", "--auth", "none", "--livehub-url", "http://127.0.0.1:1", "--client-id", "site",
		"--sip-connection", "f399069f-e84f-41e4-ac71-fab2ded73f1c",
		"--allowed-origins", "*,https://www.example.com", "--limit-user", "5/xx", "--trusted-proxies", "10.0.0.0/33"}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	if got := exitCode(err); got != 2 {
		t.Fatalf("got exit code %d (%v), want 2", got, err)
	}
	for _, want := range []string{
		`--allowed-origins: "*": wildcards are not allowed`,
		`--limit-user "5/xx": "xx" is not a duration`,
		`--trusted-proxies: "10.0.0.0/33": not a CIDR prefix`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	for _, pkg := range []string{"origin:", "ratelimit:", "clientip:"} {
		if strings.Contains(err.Error(), pkg) {
			t.Errorf("error names the Go package %q:\n%v", pkg, err)
		}
	}
}

func TestProblemsSayWhereValuesCameFrom(t *testing.T) {
	configFile := filepath.Join(t.TempDir(), "c2cauth.yaml")
	os.WriteFile(configFile, []byte("limit-user: 5/xx\n"), 0o600)
	env := map[string]string{"LIVEHUB_CLIENT_SECRET": "secret", "C2CAUTH_LIMIT_IP": "abc",
		"C2CAUTH_AUTH": "jwt", "C2CAUTH_JWT_JWKS_URL": "http://idp.example.com/jwks", "C2CAUTH_JWT_ISSUER": "https://idp.example.com", "C2CAUTH_JWT_AUDIENCE": "c2cauth"}
	args := []string{"c2cauth", "serve", "--config", configFile, "--livehub-url", "http://127.0.0.1:1",
		"--client-id", "site", "--sip-connection", "f399069f-e84f-41e4-ac71-fab2ded73f1c", "--limit-global", "1/zz"}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	if got := exitCode(err); got != 2 {
		t.Fatalf("got exit code %d (%v), want 2", got, err)
	}
	lines := strings.Split(err.Error(), "\n")
	for _, tt := range []struct{ option, want string }{
		{"--limit-user ", "(--limit-user set by --config " + configFile + ")"},
		{"--limit-ip ", "(--limit-ip set by C2CAUTH_LIMIT_IP)"},
		{"--auth jwt: ", "(--auth set by C2CAUTH_AUTH; --jwt-jwks-url set by C2CAUTH_JWT_JWKS_URL)"},
		{"--limit-global ", ""},
	} {
		var line string
		for _, l := range lines {
			if strings.HasPrefix(l, tt.option) {
				line = l
			}
		}
		switch {
		case line == "":
			t.Errorf("no problem names %s:\n%v", tt.option, err)
		case tt.want != "" && !strings.HasSuffix(line, tt.want):
			t.Errorf("%s: got %q, want it to end with %q", tt.option, line, tt.want)
		case tt.want != "" && strings.Count(line, "(") != 1:
			t.Errorf("%s: got %q, want one note of sources", tt.option, line)
			t.Errorf("%s: got %q, want it to end with %q", tt.option, line, tt.want)
		case tt.want == "" && strings.Contains(line, "(set by"):
			t.Errorf("%s came from the command line: got %q, want no source", tt.option, line)
		}
	}
}

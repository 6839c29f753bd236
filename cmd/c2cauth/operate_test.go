package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
)

// runOnce runs c2cauth to completion and returns its exit code and output.
func runOnce(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, append([]string{"c2cauth"}, args...), func(k string) string { return env[k] }, &stdout, &stderr)
	if err != nil {
		stderr.WriteString("c2cauth: " + err.Error() + "\n")
	}
	return exitCode(err), stdout.String(), stderr.String()
}

// liveHubArgs returns the options that point c2cauth at em.
func liveHubArgs(em *emulatortest.Server) []string {
	return []string{"--livehub-url", em.URL, "--client-id", em.ClientID, "--sip-connection", em.SIPConnection}
}

func TestCheck(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	args := append([]string{"check", "--auth", "none"}, liveHubArgs(em)...)

	code, stdout, _ := runOnce(t, map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret}, args...)
	if code != 0 || !strings.Contains(stdout, "access token: obtained") {
		t.Errorf("right secret: got exit code %d and output %q, want 0 and an obtained token", code, stdout)
	}

	code, stdout, _ = runOnce(t, map[string]string{"LIVEHUB_CLIENT_SECRET": "marker-secret-3f9a"}, args...)
	if code == 0 {
		t.Error("wrong secret: got exit code 0, want non-zero")
	}
	if !strings.Contains(stdout, "invalid client") || !strings.Contains(stdout, em.ClientID) {
		t.Errorf("wrong secret: output %q does not name the invalid client %q", stdout, em.ClientID)
	}
	if strings.Contains(stdout, "marker-secret-3f9a") {
		t.Errorf("output shows the secret: %q", stdout)
	}

	probe := append(args, "--probe", "--sip-connections", "sales="+em.SIPConnection+",old=00000000-0000-4000-8000-000000000000")
	code, stdout, _ = runOnce(t, map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret}, probe...)
	if code == 0 {
		t.Error("probe with an unknown connection: got exit code 0, want non-zero")
	}
	if !regexp.MustCompile(`connection "old" .*FAILED.*does not know`).MatchString(stdout) {
		t.Errorf("probe output does not name the unknown connection: %q", stdout)
	}
	if !regexp.MustCompile(`connection "sales" .*code LHv1_`).MatchString(stdout) {
		t.Errorf("probe output lacks the working connection: %q", stdout)
	}
}

func TestCodeCommand(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	env := map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret}

	code, stdout, stderr := runOnce(t, env, append([]string{"code"}, liveHubArgs(em)...)...)
	if code != 0 || !regexp.MustCompile(`^LHv1_[0-9a-f]{32}\n$`).MatchString(stdout) {
		t.Fatalf("got exit code %d, stdout %q, stderr %q, want a code", code, stdout, stderr)
	}

	args := append([]string{"code", "--json", "--connection", "sales", "--sip-connections", "sales=" + em.SIPConnection, "--caller-phone", "+1 415 555 0100"}, liveHubArgs(em)...)
	code, stdout, stderr = runOnce(t, env, args...)
	var out struct{ AuthenticationCode, Connection, CallerPhone string }
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || code != 0 {
		t.Fatalf("got exit code %d, stdout %q, stderr %q: %v", code, stdout, stderr, err)
	}
	if out.Connection != "sales" || out.CallerPhone != "+14155550100" || !strings.HasPrefix(out.AuthenticationCode, "LHv1_") {
		t.Errorf("got %+v, want a code for sales asserting +14155550100", out)
	}

	code, stdout, _ = runOnce(t, map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret, "C2CAUTH_CODE_JSON": "true"}, append([]string{"code"}, liveHubArgs(em)...)...)
	if code != 0 || !strings.Contains(stdout, `"callerPhone":null`) {
		t.Errorf("JSON without a phone: got exit code %d and %q, want callerPhone null", code, stdout)
	}

	code, _, stderr = runOnce(t, env, append([]string{"code", "--connection", "nope"}, liveHubArgs(em)...)...)
	if code != 2 || !strings.Contains(stderr, `"nope"`) {
		t.Errorf("unknown connection: got exit code %d and %q, want 2 naming it", code, stderr)
	}
}

func TestConfigFilePrecedence(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte(em.ClientSecret+"\n"), 0o600)

	files := map[string]string{
		"c2cauth.yaml": "livehub-url: " + em.URL + "\nclient-id: from-file\nclient-secret-file: " + secretFile + "\nsip-connection: " + em.SIPConnection + "\nauth: none\ncaller-phone: request\nlimit-user: 5/1m\nsip-connections:\n  - sales=" + em.SIPConnection + "\n",
		"c2cauth.toml": "livehub-url = \"" + em.URL + "\"\nclient-id = \"from-file\"\nclient-secret-file = \"" + secretFile + "\"\nsip-connection = \"" + em.SIPConnection + "\"\nauth = \"none\"\nsip-connections = [\"sales=" + em.SIPConnection + "\"]\n",
	}
	for name, content := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			os.WriteFile(path, []byte(content), 0o600)

			// The file's client ID is wrong, the environment's is right.
			code, stdout, stderr := runOnce(t, map[string]string{"LIVEHUB_CLIENT_ID": em.ClientID}, "check", "--config", path)
			if code != 0 {
				t.Errorf("environment over file: got exit code %d, %s%s", code, stdout, stderr)
			}
			// A flag beats the environment.
			code, stdout, _ = runOnce(t, map[string]string{"LIVEHUB_CLIENT_ID": em.ClientID}, "check", "--config", path, "--client-id", "from-flag")
			if code == 0 || !strings.Contains(stdout, `"from-flag"`) {
				t.Errorf("flag over environment: got exit code %d and %q, want the flag's client ID rejected", code, stdout)
			}
			// The file alone applies, lists included.
			code, stdout, _ = runOnce(t, nil, "code", "--config", path, "--client-id", em.ClientID, "--connection", "sales")
			if code != 0 || !strings.HasPrefix(stdout, "LHv1_") {
				t.Errorf("file alone: got exit code %d and %q, want a code", code, stdout)
			}
		})
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("client-secret: hunter2\nlisten-port: 80\n"), 0o600)
	code, _, stderr := runOnce(t, nil, "serve", "--config", bad)
	if code != 2 {
		t.Errorf("bad file: got exit code %d, want 2", code)
	}
	for _, want := range []string{"client secret cannot be in the configuration file", `unknown key "listen-port"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("bad file: error does not say %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "hunter2") {
		t.Error("bad file: error shows the secret")
	}
}

func TestConfigFileForEmulatorAndDev(t *testing.T) {
	dir := t.TempDir()
	emulatorFile := filepath.Join(dir, "emulator.yaml")
	os.WriteFile(emulatorFile, []byte("listen: 127.0.0.1:0\nclient-id: file-client\nclient-secret: file-secret\ncode-ttl: 2m\n"), 0o600)
	em := start(t, map[string]string{"EMULATOR_CONFIG": emulatorFile}, "emulator")
	emulatorURL := em.waitFor(t, `emulator listening on (http://127\.0\.0\.1:\d+)`)[1]

	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"file-client"}, "client_secret": {"file-secret"}}
	resp, err := http.PostForm(emulatorURL+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("token with the file's credentials: got %d, want 200", resp.StatusCode)
	}

	// A file written for serve works for dev: the keys dev lacks are
	// ignored and the ones it has apply.
	devFile := filepath.Join(dir, "c2cauth.toml")
	os.WriteFile(devFile, []byte("listen = \"127.0.0.1:0\"\nemulator-listen = \"127.0.0.1:0\"\nlimit-user = \"5/1m\"\nlog-format = \"json\"\n"), 0o600)
	dev := start(t, nil, "dev", "--config", devFile)
	backendURL := dev.waitFor(t, `demo page +(http://127\.0\.0\.1:\d+)/`)[1]
	if resp := request(t, "/healthz", backendURL); resp.StatusCode != http.StatusOK {
		t.Errorf("dev backend /healthz: got %d, want 200", resp.StatusCode)
	}
	if log := dev.stderr.String(); !strings.HasPrefix(log, `{"time":`) {
		t.Errorf("dev log: got %.100q, want JSON lines as the file sets", log)
	}
}

func TestReadinessFollowsTokenEndpoint(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	if err := em.Emulator.AddFault(emulator.Fault{Endpoint: "token", Status: 503}); err != nil {
		t.Fatal(err)
	}
	p := start(t, map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret},
		append([]string{"serve", "--listen", "127.0.0.1:0", "--auth", "none"}, liveHubArgs(em)...)...)
	backendURL := p.waitFor(t, `listening on (http://127\.0\.0\.1:\d+)`)[1]

	for _, path := range []string{"/readyz", "/v1/auth-code"} {
		resp, err := http.Post(backendURL+path, "application/json", strings.NewReader(`{}`))
		if path == "/readyz" {
			resp, err = http.Get(backendURL + path)
		}
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error, Message string }
		decodeErr := json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s with the token endpoint down: got %d with Retry-After %q, want 503 with Retry-After", path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if decodeErr != nil || body.Error != "livehub_unavailable" || body.Message == "" {
			t.Errorf("%s with the token endpoint down: got body %+v (%v), want error livehub_unavailable with a message", path, body, decodeErr)
		}
	}

	em.Emulator.ClearFaults()
	cleared := time.Now()
	for _, path := range []string{"/readyz", "/v1/auth-code"} {
		for {
			resp := request(t, path, backendURL)
			if resp.StatusCode == http.StatusOK {
				break
			}
			if time.Since(cleared) > time.Second {
				t.Fatalf("%s: still %d one second after the token endpoint recovered", path, resp.StatusCode)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// request sends GET for /readyz and /healthz, and an empty JSON POST for
// other paths.
func request(t *testing.T, path, baseURL string) *http.Response {
	t.Helper()
	var resp *http.Response
	var err error
	if path == "/readyz" || path == "/healthz" || path == "/metrics" {
		resp, err = http.Get(baseURL + path)
	} else {
		resp, err = http.Post(baseURL+path, "application/json", strings.NewReader(`{}`))
	}
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestSecretFileRotation(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	secretFile := filepath.Join(t.TempDir(), "client-secret")
	os.WriteFile(secretFile, []byte(em.ClientSecret), 0o600)
	p := start(t, nil, append([]string{"serve", "--listen", "127.0.0.1:0", "--auth", "none", "--caller-phone", "off", "--limit-ip", "off", "--client-secret-file", secretFile}, liveHubArgs(em)...)...)
	backendURL := p.waitFor(t, `listening on (http://127\.0\.0\.1:\d+)`)[1]
	if resp := request(t, "/v1/auth-code", backendURL); resp.StatusCode != http.StatusOK {
		t.Fatalf("before rotation: got %d, want 200", resp.StatusCode)
	}

	// The operator writes the new secret, then Live Hub switches to it and
	// the old tokens stop working.
	os.WriteFile(secretFile, []byte("rotated-secret\n"), 0o600)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "client secret reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("the new secret was not loaded within 10 s; log:\n%s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	em.Emulator.SetClientSecret("rotated-secret")
	em.Emulator.RevokeTokens()

	for i := range 5 {
		if resp := request(t, "/v1/auth-code", backendURL); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d after rotation: got %d, want 200", i, resp.StatusCode)
		}
	}
	if strings.Contains(p.stderr.String(), "rotated-secret") {
		t.Error("the log shows the new secret")
	}
}

func TestAdminListener(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	p := start(t, map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret},
		append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--auth", "none"}, liveHubArgs(em)...)...)
	adminURL := p.waitFor(t, `admin endpoints listening on (http://127\.0\.0\.1:\d+)`)[1]
	backendURL := p.waitFor(t, `backend listening on (http://127\.0\.0\.1:\d+)`)[1]

	for _, path := range []string{"/healthz", "/readyz"} {
		if resp := request(t, path, adminURL); resp.StatusCode != http.StatusOK {
			t.Errorf("admin %s: got %d, want 200", path, resp.StatusCode)
		}
	}
	if resp := request(t, "/v1/auth-code", adminURL); resp.StatusCode != http.StatusNotFound {
		t.Errorf("admin /v1/auth-code: got %d, want 404", resp.StatusCode)
	}
	if resp := request(t, "/v1/auth-code", backendURL); resp.StatusCode != http.StatusOK {
		t.Errorf("backend /v1/auth-code: got %d, want 200", resp.StatusCode)
	}
	if resp := request(t, "/debug/pprof/", adminURL); resp.StatusCode != http.StatusNotFound {
		t.Errorf("admin /debug/pprof/ without --pprof: got %d, want 404", resp.StatusCode)
	}
}

func TestProfilesOnAdminListenerOnly(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	p := start(t, map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret, "C2CAUTH_PPROF": "true"},
		append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--auth", "none"}, liveHubArgs(em)...)...)
	adminURL := p.waitFor(t, `admin endpoints listening on (http://127\.0\.0\.1:\d+)`)[1]
	backendURL := p.waitFor(t, `backend listening on (http://127\.0\.0\.1:\d+)`)[1]

	resp, err := http.Get(adminURL + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile:") {
		t.Errorf("admin goroutine profile: got %d with %.80q, want 200 with a goroutine profile", resp.StatusCode, body)
	}
	if resp := request(t, "/debug/pprof/", backendURL); resp.StatusCode != http.StatusNotFound {
		t.Errorf("backend /debug/pprof/: got %d, want 404", resp.StatusCode)
	}
	// The command line may hold a secret, so it is not served.
	if resp := request(t, "/debug/pprof/cmdline", adminURL); resp.StatusCode == http.StatusOK {
		t.Errorf("admin /debug/pprof/cmdline: got %d, want it not served", resp.StatusCode)
	}
}

func TestProfilesNeedAdminListener(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := map[string]string{"LIVEHUB_CLIENT_SECRET": "secret"}
	args := []string{"c2cauth", "serve", "--pprof", "--auth", "none", "--livehub-url", "http://127.0.0.1:1", "--client-id", "site", "--sip-connection", "f399069f-e84f-41e4-ac71-fab2ded73f1c"}
	err := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	if got := exitCode(err); got != 2 {
		t.Fatalf("got exit code %d (%v), want 2", got, err)
	}
	if !strings.Contains(err.Error(), "--pprof needs --admin-listen") {
		t.Errorf("error does not explain --pprof:\n%v", err)
	}
}

func TestServeTLS(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	certFile, keyFile, pool := selfSignedCert(t)
	p := start(t, map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret},
		append([]string{"serve", "--listen", "127.0.0.1:0", "--auth", "none", "--tls-cert", certFile, "--tls-key", keyFile}, liveHubArgs(em)...)...)
	backendURL := p.waitFor(t, `listening on (https://127\.0\.0\.1:\d+)`)[1]

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Post(backendURL+"/v1/auth-code", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Errorf("got status %d over TLS %v, want 200 over TLS", resp.StatusCode, resp.TLS != nil)
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key, and returns
// their files and a pool that trusts the certificate.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "c2cauth test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// binary builds c2cauth once for the tests that run it as a process.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "c2cauth-test")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "c2cauth")
	out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
	if err != nil {
		return "", &exec.ExitError{Stderr: out}
	}
	return path, nil
})

func TestSIGTERMFinishesInFlight(t *testing.T) {
	path, err := binary()
	if err != nil {
		t.Fatalf("build c2cauth: %v", err)
	}
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)

	cmd := exec.Command(path, append([]string{"serve", "--listen", "127.0.0.1:0", "--auth", "none", "--limit-ip", "off", "--limit-global", "off"}, liveHubArgs(em)...)...)
	cmd.Env = append(os.Environ(), "LIVEHUB_CLIENT_SECRET="+em.ClientSecret)
	stdout := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	var backendURL string
	for deadline := time.Now().Add(10 * time.Second); backendURL == ""; {
		if m := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(stdout.String()); m != nil {
			backendURL = m[1]
		} else if time.Now().After(deadline) {
			t.Fatal("c2cauth did not start within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp := request(t, "/v1/auth-code", backendURL); resp.StatusCode != http.StatusOK {
		t.Fatalf("warm-up: got %d, want 200", resp.StatusCode)
	}

	// Every code takes a second at Live Hub, so 50 requests are in flight
	// when SIGTERM arrives.
	if err := em.Emulator.AddFault(emulator.Fault{Endpoint: "generate", LatencyMs: 1000}); err != nil {
		t.Fatal(err)
	}
	const requests = 50
	before := em.Emulator.Stats().GenerateRequests
	statuses := make(chan int, requests)
	for range requests {
		go func() {
			resp, err := http.Post(backendURL+"/v1/auth-code", "application/json", strings.NewReader(`{}`))
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	for em.Emulator.Stats().GenerateRequests-before < requests {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	for i := range requests {
		if status := <-statuses; status != http.StatusOK {
			t.Errorf("request %d: got status %d, want 200", i, status)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("c2cauth exited with %v, want status 0", err)
	}
}

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
	"github.com/c2cauth/c2cauth/identity/forward"
	"github.com/c2cauth/c2cauth/identity/headerauth"
	"github.com/c2cauth/c2cauth/identity/jwtauth"
)

// goFieldNames returns the Config field names of the identity packages
// that the command configures. "URL" is left out, because messages use it
// as an ordinary word ("is not an absolute URL").
func goFieldNames() []string {
	var names []string
	for _, config := range []reflect.Type{
		reflect.TypeFor[forward.Config](),
		reflect.TypeFor[jwtauth.Config](),
		reflect.TypeFor[headerauth.Config](),
	} {
		for _, field := range reflect.VisibleFields(config) {
			if field.Name != "URL" && !slices.Contains(names, field.Name) {
				names = append(names, field.Name)
			}
		}
	}
	return names
}

// writeFile writes content to a new file in a temporary directory and
// returns its path.
func writeFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ecPublicKeyPEM returns a new ECDSA P-256 public key as a PEM block.
func ecPublicKeyPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestAuthProblemsNameOnlyOptions(t *testing.T) {
	ecKeyFile := writeFile(t, "ec.pem", ecPublicKeyPEM(t))
	notPEMFile := writeFile(t, "not.pem", []byte("not a key"))
	missingFile := filepath.Join(t.TempDir(), "missing.pem")

	tests := []struct {
		name string
		args []string
		want []string // problem lines, or their start when they end with "…"
	}{
		{
			name: "jwt without key",
			args: []string{"--auth", "jwt", "--jwt-issuer", "i", "--jwt-audience", "a"},
			want: []string{"--auth jwt: --jwt-jwks-url and --jwt-key-file are empty; set one of them"},
		},
		{
			name: "jwt alone",
			args: []string{"--auth", "jwt"},
			want: []string{
				"--auth jwt: --jwt-jwks-url and --jwt-key-file are empty; set one of them",
				"--auth jwt: --jwt-issuer is required",
				"--auth jwt: --jwt-audience is required",
			},
		},
		{
			name: "jwt key file missing and more",
			args: []string{"--auth", "jwt", "--jwt-key-file", missingFile, "--jwt-jwks-url", "ftp://idp.example.com/jwks.json", "--jwt-algorithms", "none"},
			want: []string{
				"--auth jwt: --jwt-jwks-url and --jwt-key-file are set together; set only one of them",
				`--auth jwt: --jwt-jwks-url "ftp://idp.example.com/jwks.json" must start with https://`,
				"--auth jwt: --jwt-key-file cannot be read: open …",
				"--auth jwt: --jwt-issuer is required",
				"--auth jwt: --jwt-audience is required",
				`--auth jwt: --jwt-algorithms contains "none", which accepts unsigned tokens and is never allowed`,
			},
		},
		{
			name: "jwt key file not PEM and more",
			args: []string{"--auth", "jwt", "--jwt-key-file", notPEMFile, "--jwt-algorithms", "none,RS256"},
			want: []string{
				"--auth jwt: --jwt-key-file is invalid: no PEM block found; …",
				"--auth jwt: --jwt-issuer is required",
				"--auth jwt: --jwt-audience is required",
				`--auth jwt: --jwt-algorithms contains "none", which accepts unsigned tokens and is never allowed`,
			},
		},
		{
			name: "jwt every option wrong",
			args: []string{"--auth", "jwt", "--jwt-jwks-url", "http://idp.example.com/jwks.json", "--jwt-algorithms", "none,HS256,RS257", "--jwt-leeway", "1h", "--jwt-cookie", "bad name", "--default-region", "XX"},
			want: []string{
				`--auth jwt: --jwt-jwks-url "http://idp.example.com/jwks.json" must use https unless its host is loopback`,
				"--auth jwt: --jwt-issuer is required",
				"--auth jwt: --jwt-audience is required",
				"--auth jwt: --jwt-leeway 1h0m0s is outside 0 to 5m0s",
				`--auth jwt: --jwt-cookie "bad name" is not a valid cookie name`,
				`--auth jwt: --default-region "XX" is not a known region code`,
				`--auth jwt: --jwt-algorithms contains "none", which accepts unsigned tokens and is never allowed`,
				`--auth jwt: --jwt-algorithms and --jwt-jwks-url do not fit together, because "HS256" is an HMAC algorithm, which needs a shared secret instead of a key set`,
				`--auth jwt: --jwt-algorithms contains "RS257", which is not a supported algorithm`,
			},
		},
		{
			name: "jwt two key sources",
			args: []string{"--auth", "jwt", "--jwt-jwks-url", "https://127.0.0.1:1/jwks.json", "--jwt-key-file", ecKeyFile, "--jwt-issuer", "i", "--jwt-audience", "a"},
			want: []string{"--auth jwt: --jwt-jwks-url and --jwt-key-file are set together; set only one of them"},
		},
		{
			name: "jwt key file not PEM",
			args: []string{"--auth", "jwt", "--jwt-key-file", notPEMFile, "--jwt-issuer", "i", "--jwt-audience", "a"},
			want: []string{`--auth jwt: --jwt-key-file is invalid: no PEM block found; it must hold one PEM public key ("-----BEGIN PUBLIC KEY-----" or "-----BEGIN RSA PUBLIC KEY-----") or certificate ("-----BEGIN CERTIFICATE-----")`},
		},
		{
			name: "jwt algorithm does not fit key",
			args: []string{"--auth", "jwt", "--jwt-key-file", ecKeyFile, "--jwt-algorithms", "RS256", "--jwt-issuer", "i", "--jwt-audience", "a"},
			want: []string{`--auth jwt: --jwt-algorithms and --jwt-key-file do not fit together, because "RS256" needs a key of type RSA, not ECDSA P-256`},
		},
		{
			name: "jwt key file missing",
			args: []string{"--auth", "jwt", "--jwt-key-file", missingFile, "--jwt-issuer", "i", "--jwt-audience", "a"},
			want: []string{"--auth jwt: --jwt-key-file cannot be read: open …"},
		},
		{
			name: "jwt relative key set URL",
			args: []string{"--auth", "jwt", "--jwt-jwks-url", "/jwks.json", "--jwt-issuer", "i", "--jwt-audience", "a"},
			want: []string{`--auth jwt: --jwt-jwks-url "/jwks.json" is not an absolute URL`},
		},
		{
			name: "forward without URL",
			args: []string{"--auth", "forward"},
			want: []string{"--auth forward: --forward-url is required"},
		},
		{
			name: "forward every option wrong",
			args: []string{"--auth", "forward", "--forward-url", "ftp://site.example/session", "--forward-timeout=-1s", "--default-region", "XX"},
			want: []string{
				`--auth forward: --forward-url "ftp://site.example/session" must start with http:// or https://`,
				"--auth forward: --forward-timeout -1s is negative",
				`--auth forward: --default-region "XX" is not a known region code`,
			},
		},
		{
			name: "forward URL as typed",
			args: []string{"--auth", "forward", "--forward-url", "not a url"},
			want: []string{`--auth forward: --forward-url "not a url" must start with http:// or https://`},
		},
		{
			name: "forward URL with password and other scheme",
			args: []string{"--auth", "forward", "--forward-url", "ftp://user:pa55word@site.example/a session"},
			want: []string{`--auth forward: --forward-url "ftp://user:xxxxx@site.example/a session" must start with http:// or https://`},
		},
		{
			name: "forward URL with password",
			args: []string{"--auth", "forward", "--forward-url", "https://user:pa55word@site.example/session"},
			want: []string{"--auth forward: --forward-url must not contain a user name or password"},
		},
		{
			name: "forward URL unparsable",
			args: []string{"--auth", "forward", "--forward-url", "http://[::1"},
			want: []string{"--auth forward: --forward-url is invalid: …"},
		},
		{
			name: "header user empty",
			args: []string{"--auth", "header", "--trusted-proxies", "10.0.0.1", "--header-user", ""},
			want: []string{"--auth header: --header-user is required"},
		},
		{
			name: "header names invalid",
			args: []string{"--auth", "header", "--trusted-proxies", "10.0.0.1", "--header-user", "X User", "--header-phone", "X-Phone:"},
			want: []string{
				`--auth header: --header-user "X User" is not a valid header name`,
				`--auth header: --header-phone "X-Phone:" is not a valid header name`,
			},
		},
		{
			name: "header user and phone alike",
			args: []string{"--auth", "header", "--trusted-proxies", "10.0.0.1", "--header-user", "X-User", "--header-phone", "x-user"},
			want: []string{`--auth header: --header-user and --header-phone are both "X-User"`},
		},
	}

	fieldNames := goFieldNames()
	env := map[string]string{"LIVEHUB_CLIENT_SECRET": "secret"}
	for _, tt := range tests {
		for _, command := range []string{"serve", "check"} {
			t.Run(command+" "+tt.name, func(t *testing.T) {
				// Every address is on loopback, so a configuration that
				// passes by mistake reaches nothing outside this machine.
				args := append([]string{command, "--listen", "127.0.0.1:0", "--livehub-url", "http://127.0.0.1:1", "--client-id", "a", "--sip-connection", "b"}, tt.args...)
				code, stdout, stderr := runOnce(t, env, args...)
				if code != 2 {
					t.Fatalf("got exit code %d, want 2; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
				}

				var problems []string
				for line := range strings.Lines(stderr) {
					if line = strings.TrimSpace(line); strings.HasPrefix(line, "--auth ") {
						problems = append(problems, line)
					}
				}
				for _, want := range tt.want {
					found := slices.ContainsFunc(problems, func(line string) bool {
						if prefix, ok := strings.CutSuffix(want, "…"); ok {
							return strings.HasPrefix(line, prefix)
						}
						return line == want
					})
					if !found {
						t.Errorf("no problem line %q in:\n%s", want, stderr)
					}
				}
				if len(problems) != len(tt.want) {
					t.Errorf("got %d problems of --auth, want %d:\n%s", len(problems), len(tt.want), strings.Join(problems, "\n"))
				}

				for _, line := range problems {
					// The message follows "--auth MODE: ", whose mode may
					// share a package's name.
					message := regexp.MustCompile(`^--auth [a-z]+: `).ReplaceAllString(line, "")
					if !strings.Contains(message, "--") {
						t.Errorf("problem names no option: %q", line)
					}
					for _, name := range fieldNames {
						if regexp.MustCompile(`\b` + name + `\b`).MatchString(message) {
							t.Errorf("problem names the Go field %s: %q", name, line)
						}
					}
					if regexp.MustCompile(`\b(forward|jwtauth|headerauth): `).MatchString(message) {
						t.Errorf("problem names a Go package: %q", line)
					}
				}
				if strings.Contains(stderr, "pa55word") {
					t.Errorf("output shows the password of --forward-url:\n%s", stderr)
				}
			})
		}
	}
}

// replyServer responds to every request on loopback with one status and
// body, and counts the requests.
type replyServer struct {
	*httptest.Server
	requests atomic.Int32
}

func newReplyServer(t *testing.T, status int, body []byte) *replyServer {
	t.Helper()
	s := &replyServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// keySetJSON returns a key set with a new key for each use: "sig", "" or
// "enc".
func keySetJSON(t *testing.T, uses ...string) []byte {
	t.Helper()
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for i, use := range uses {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		jwk, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: "key-" + string(rune('a'+i)), ALG: jwkset.AlgES256, USE: jwkset.USE(use)},
		})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestCheckKeySet(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	env := map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	tests := []struct {
		name     string
		status   int
		body     []byte
		url      string // instead of the test server's
		exitCode int
		want     string
	}{
		{name: "usable keys", status: 200, body: keySetJSON(t, "sig", "", "enc"), want: `key set: 2 usable keys at http://127\.0\.0\.1:\d+/jwks\.json\n`},
		{name: "one usable key", status: 200, body: keySetJSON(t, "sig"), want: `key set: 1 usable key at http://127\.0\.0\.1:\d+/jwks\.json\n`},
		{name: "not found", status: 404, body: []byte("no such page"), exitCode: 1, want: `key set: FAILED: the key set URL http://127\.0\.0\.1:\d+/jwks\.json responded with 404 Not Found\n`},
		{name: "server error", status: 500, body: []byte("oops"), exitCode: 1, want: `key set: FAILED: the key set URL http://127\.0\.0\.1:\d+/jwks\.json responded with 500 Internal Server Error\n`},
		{name: "not a key set", status: 200, body: []byte("<html>sign in</html>"), exitCode: 1, want: `key set: FAILED: the response of the key set URL http://127\.0\.0\.1:\d+/jwks\.json is not a JSON Web Key Set: `},
		{name: "no signing key", status: 200, body: keySetJSON(t, "enc"), exitCode: 1, want: `key set: FAILED: the key set at http://127\.0\.0\.1:\d+/jwks\.json contains 1 key, which is not a signing key for RS256, ES256\n`},
		{name: "empty", status: 200, body: []byte(`{"keys":[]}`), exitCode: 1, want: `key set: FAILED: the key set at http://127\.0\.0\.1:\d+/jwks\.json contains no supported keys\n`},
		{name: "unreachable", url: down.URL + "/jwks.json?client=s3cret", exitCode: 1, want: `key set: FAILED: the request to the key set URL http://127\.0\.0\.1:\d+/jwks\.json failed: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := newReplyServer(t, tt.status, tt.body)
			keySetURL := tt.url
			if keySetURL == "" {
				keySetURL = server.URL + "/jwks.json?client=s3cret"
			}
			args := append([]string{"check", "--auth", "jwt", "--jwt-jwks-url", keySetURL, "--jwt-issuer", "https://idp.example", "--jwt-audience", "c2cauth"}, liveHubArgs(em)...)

			code, stdout, stderr := runOnce(t, env, args...)
			if code != tt.exitCode {
				t.Errorf("got exit code %d, want %d; stderr:\n%s", code, tt.exitCode, stderr)
			}
			if !regexp.MustCompile(tt.want).MatchString(stdout) {
				t.Errorf("output does not match %q:\n%s", tt.want, stdout)
			}
			// A failed key set does not hide the other results.
			if !strings.Contains(stdout, "access token: obtained") {
				t.Errorf("output lacks the access token:\n%s", stdout)
			}
			checkOutputLines(t, stdout)
			if strings.Contains(stdout+stderr, "s3cret") {
				t.Errorf("output shows the query of --jwt-jwks-url:\n%s", stdout)
			}
			if tt.url == "" {
				if got := server.requests.Load(); got != 1 {
					t.Errorf("got %d key set requests, want 1", got)
				}
			}
		})
	}
}

func TestCheckKeySetWithProbe(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	server := newReplyServer(t, http.StatusInternalServerError, nil)
	args := append([]string{"check", "--probe", "--auth", "jwt", "--jwt-jwks-url", server.URL, "--jwt-issuer", "https://idp.example", "--jwt-audience", "c2cauth"}, liveHubArgs(em)...)

	code, stdout, _ := runOnce(t, map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret}, args...)
	if code != 1 {
		t.Errorf("got exit code %d, want 1", code)
	}
	for _, want := range []string{"key set: FAILED", "access token: obtained", `connection "default"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestCheckKeyFilePrintsNoKeySet(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	keyFile := writeFile(t, "ec.pem", ecPublicKeyPEM(t))
	args := append([]string{"check", "--auth", "jwt", "--jwt-key-file", keyFile, "--jwt-issuer", "https://idp.example", "--jwt-audience", "c2cauth"}, liveHubArgs(em)...)

	code, stdout, stderr := runOnce(t, map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret}, args...)
	if code != 0 {
		t.Errorf("got exit code %d, want 0; stderr:\n%s", code, stderr)
	}
	if strings.Contains(stdout, "key set") {
		t.Errorf("output mentions a key set, but there is none:\n%s", stdout)
	}
}

func TestCheckForward(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	env := map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	tests := []struct {
		name     string
		status   int
		body     string
		delay    time.Duration
		url      string // instead of the test server's
		exitCode int
		want     string
		warning  bool
	}{
		{name: "401", status: 401, want: `sign-in endpoint: http://127\.0\.0\.1:\d+/session responded with 401 Unauthorized to a request without credentials\n`},
		{name: "403", status: 403, want: `sign-in endpoint: http://127\.0\.0\.1:\d+/session responded with 403 Forbidden to a request without credentials\n`},
		{name: "404", status: 404, warning: true, want: `sign-in endpoint: http://127\.0\.0\.1:\d+/session responded with 404 Not Found to a request without credentials\n`},
		{name: "200", status: 200, body: `{"user":"alice"}`, exitCode: 1, want: `sign-in endpoint: FAILED: the sign-in endpoint http://127\.0\.0\.1:\d+/session responded with 200 OK to a request without credentials, but it must respond with 401 or 403 `},
		{name: "redirect", status: 302, exitCode: 1, want: `sign-in endpoint: FAILED: the sign-in endpoint http://127\.0\.0\.1:\d+/session responded with 302 Found to a request without credentials, but redirects are not followed`},
		{name: "500", status: 500, exitCode: 1, want: `sign-in endpoint: FAILED: the sign-in endpoint http://127\.0\.0\.1:\d+/session responded with 500 Internal Server Error to a request without credentials\n`},
		{name: "timeout", status: 401, delay: 5 * time.Second, exitCode: 1, want: `sign-in endpoint: FAILED: the sign-in endpoint http://127\.0\.0\.1:\d+/session did not respond within 200ms`},
		{name: "unreachable", url: down.URL + "/session?key=s3cret", exitCode: 1, want: `sign-in endpoint: FAILED: the request to the sign-in endpoint http://127\.0\.0\.1:\d+/session failed: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int32
			site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				for _, name := range []string{"Cookie", "Authorization"} {
					if value := r.Header.Get(name); value != "" {
						t.Errorf("endpoint got %s header %q, want none", name, value)
					}
				}
				select {
				case <-r.Context().Done():
					return
				case <-time.After(tt.delay):
				}
				if tt.status == http.StatusFound {
					w.Header().Set("Location", "/login")
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			t.Cleanup(site.Close)
			endpoint := tt.url
			if endpoint == "" {
				endpoint = site.URL + "/session?key=s3cret"
			}
			args := append([]string{"check", "--auth", "forward", "--forward-url", endpoint, "--forward-timeout", "200ms"}, liveHubArgs(em)...)

			code, stdout, stderr := runOnce(t, env, args...)
			if code != tt.exitCode {
				t.Errorf("got exit code %d, want %d; stderr:\n%s", code, tt.exitCode, stderr)
			}
			if !regexp.MustCompile(tt.want).MatchString(stdout) {
				t.Errorf("output does not match %q:\n%s", tt.want, stdout)
			}
			if got := strings.Contains(stdout, "WARNING"); got != tt.warning {
				t.Errorf("got a warning %t, want %t:\n%s", got, tt.warning, stdout)
			}
			if !strings.Contains(stdout, "access token: obtained") {
				t.Errorf("output lacks the access token:\n%s", stdout)
			}
			checkOutputLines(t, stdout)
			if strings.Contains(stdout+stderr, "s3cret") {
				t.Errorf("output shows the query of --forward-url:\n%s", stdout)
			}
			if tt.url == "" {
				if got := requests.Load(); got != 1 {
					t.Errorf("got %d requests at the endpoint, want 1", got)
				}
			}
		})
	}
}

// checkOutputLines checks that every line of check's output starts with
// one of its subjects, and that no line repeats a Go package's prefix.
func checkOutputLines(t *testing.T, stdout string) {
	t.Helper()
	subject := regexp.MustCompile(`^(configuration|key set|sign-in endpoint|access token|connection "[^"]+" \(SIP connection [^)]+\)): `)
	for line := range strings.Lines(stdout) {
		if !subject.MatchString(line) {
			t.Errorf("output line has no subject of check: %q", line)
		}
		if regexp.MustCompile(`\b(forward auth|jwt auth|fetch key set): `).MatchString(line) {
			t.Errorf("output line repeats an error prefix of a Go package: %q", line)
		}
	}
}

func TestCheckForwardWarnsOfUnencryptedURL(t *testing.T) {
	var requests atomic.Int32
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(site.Close)
	// The endpoint URL names a cluster service, but every connection goes
	// to the loopback site, so no name is resolved and nothing leaves this
	// machine.
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, site.Listener.Addr().String())
		},
	}}
	t.Cleanup(client.CloseIdleConnections)

	tests := []struct {
		url     string
		warning bool
	}{
		{url: "http://auth.default.svc:8080/session?key=s3cret", warning: true},
		{url: "http://10.0.0.7/session", warning: true},
		{url: "http://localhost:8080/session", warning: false},
		{url: "https://auth.example.com/session", warning: false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			transport := client.Transport.(*http.Transport)
			if strings.HasPrefix(tt.url, "https:") {
				// The loopback site speaks plain HTTP, so the https case
				// uses a client that sends plain HTTP to it instead.
				transport = transport.Clone()
				transport.DialTLSContext = transport.DialContext
			}
			a, err := forward.New(forward.Config{URL: tt.url, Client: &http.Client{Transport: transport}})
			if err != nil {
				t.Fatal(err)
			}
			var stdout strings.Builder
			ok := checkForward(context.Background(), &stdout, a, outputURL(tt.url))

			if !ok {
				t.Errorf("got a failed check, want it to pass:\n%s", stdout.String())
			}
			want := "sign-in endpoint: WARNING: --forward-url is plain http to a host that is not loopback, so each sign-in check sends the visitor's Cookie and Authorization headers unencrypted; use https unless the network to the endpoint is private\n"
			if got := strings.Contains(stdout.String(), want); got != tt.warning {
				t.Errorf("got the warning %t, want %t:\n%s", got, tt.warning, stdout.String())
			}
			if !strings.Contains(stdout.String(), "responded with 401 Unauthorized to a request without credentials") {
				t.Errorf("output lacks the probe's result:\n%s", stdout.String())
			}
			checkOutputLines(t, stdout.String())
			if strings.Contains(stdout.String(), "s3cret") {
				t.Errorf("output shows the query of the URL:\n%s", stdout.String())
			}
		})
	}
	if got := requests.Load(); got != int32(len(tests)) {
		t.Errorf("got %d requests at the site, want %d", got, len(tests))
	}
}

func TestServeWarnsOfUnencryptedForwardURL(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		warnings int
	}{
		// 192.0.2.0/24 is reserved for documentation (RFC 5737). Serve
		// sends the endpoint nothing until a visitor requests a code.
		{name: "network host", url: "http://192.0.2.10:8080/session?key=s3cret", warnings: 1},
		{name: "loopback", url: "http://127.0.0.1:1/session", warnings: 0},
		{name: "https", url: "https://192.0.2.10/session", warnings: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			em := emulatortest.NewServer(emulator.Config{})
			t.Cleanup(em.Close)
			p := start(t, map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret}, "serve",
				"--listen", "127.0.0.1:0",
				"--livehub-url", em.URL,
				"--client-id", em.ClientID,
				"--sip-connection", em.SIPConnection,
				"--auth", "forward",
				"--forward-url", tt.url)
			p.waitFor(t, `listening on http://127\.0\.0\.1:\d+`)

			log := p.stderr.String()
			warnings := grepLines(log, "--forward-url is plain http")
			if got := strings.Count(warnings, "\n"); got != tt.warnings {
				t.Errorf("got %d warnings about --forward-url, want %d; log:\n%s", got, tt.warnings, log)
			}
			if tt.warnings > 0 && !strings.Contains(warnings, "level=WARN") {
				t.Errorf("warning is not at level WARN: %s", warnings)
			}
			if tt.warnings > 0 && !strings.Contains(warnings, "forward_url=http://192.0.2.10:8080/session") {
				t.Errorf("warning does not name the URL: %s", warnings)
			}
			if strings.Contains(log, "s3cret") {
				t.Errorf("log shows the query of --forward-url:\n%s", log)
			}
		})
	}
}

func TestOperationsGuideShowsSignInLines(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	warning := "sign-in endpoint: WARNING: " + unencryptedForwardWarning + "\n"
	if !strings.Contains(string(doc), warning) {
		t.Errorf("docs/operations.md does not show the warning as check prints it:\n%s", warning)
	}

	var examples strings.Builder
	for line := range strings.Lines(string(doc)) {
		line = strings.TrimPrefix(line, "# ")
		if strings.HasPrefix(line, "key set: ") || strings.HasPrefix(line, "sign-in endpoint: ") {
			examples.WriteString(line)
		}
	}
	if examples.Len() == 0 {
		t.Fatal("docs/operations.md shows no sign-in line")
	}
	checkOutputLines(t, examples.String())
}

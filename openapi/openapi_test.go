package openapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	validationerrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/router"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/c2cauth/c2cauth/authcode"
	"github.com/c2cauth/c2cauth/openapi"
)

// spec is one parsed document with its validator.
type spec struct {
	name      string
	model     *v3.Document
	validator validator.Validator
	router    router.Router
}

// loadSpec parses document, builds its OpenAPI 3.1 model and validator, and
// checks the document against the OpenAPI schema.
func loadSpec(t *testing.T, name string, document []byte) *spec {
	t.Helper()
	doc, err := libopenapi.NewDocument(document)
	if err != nil {
		t.Fatalf("%s: parse: %v", name, err)
	}
	if got := doc.GetVersion(); got != "3.1.0" {
		t.Errorf("%s: OpenAPI version: got %q, want 3.1.0", name, got)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("%s: build the v3 model: %v", name, err)
	}
	v, errs := validator.NewValidator(doc, config.WithURLEncodedBodyValidation())
	if len(errs) > 0 {
		t.Fatalf("%s: new validator: %v", name, errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		t.Errorf("%s: the document does not match the OpenAPI schema:\n%s", name, describe(verrs))
	}
	return &spec{name: name, model: &model.Model, validator: v, router: router.NewRouter(&model.Model, router.WithPathOnlyMatching())}
}

// operations returns "METHOD /path" for every operation of s.
func (s *spec) operations() []string {
	var ops []string
	for path, item := range s.model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			ops = append(ops, strings.ToUpper(method)+" "+path)
		}
	}
	return ops
}

// describe formats validation errors one per line.
func describe(errs []*validationerrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  - %v\n", e)
		for _, s := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "      %v\n", s)
		}
	}
	return b.String()
}

func TestDocumentsAreValid(t *testing.T) {
	documents := []struct {
		name     string
		document []byte
		minOps   int
	}{
		{"c2cauth.yaml", openapi.Backend, 13},
		{"emulator.yaml", openapi.Emulator, 8},
	}
	for _, d := range documents {
		t.Run(d.name, func(t *testing.T) {
			s := loadSpec(t, d.name, d.document)
			ops := s.operations()
			if len(ops) < d.minOps {
				t.Errorf("operations: got %d (%v), want at least %d", len(ops), ops, d.minOps)
			}
			for path, item := range s.model.Paths.PathItems.FromOldest() {
				for method, op := range item.GetOperations().FromOldest() {
					name := strings.ToUpper(method) + " " + path
					if op.OperationId == "" {
						t.Errorf("%s: no operationId", name)
					}
					if op.Responses == nil || op.Responses.Codes.Len() == 0 {
						t.Errorf("%s: no responses", name)
					}
				}
			}
		})
	}
}

func TestBackendDevRoutesAreTagged(t *testing.T) {
	s := loadSpec(t, "c2cauth.yaml", openapi.Backend)
	for path, item := range s.model.Paths.PathItems.FromOldest() {
		devPath := path == "/" || strings.HasPrefix(path, "/dev/") || strings.HasPrefix(path, "/static/")
		for method, op := range item.GetOperations().FromOldest() {
			tagged := slices.Contains(op.Tags, "dev-only")
			if devPath != tagged {
				t.Errorf("%s %s: tagged dev-only: got %v, want %v", strings.ToUpper(method), path, tagged, devPath)
			}
		}
	}
}

func TestBackendErrorCodesMatchEndpoint(t *testing.T) {
	s := loadSpec(t, "c2cauth.yaml", openapi.Backend)
	codes := endpointErrorCodes(t)

	enum := s.model.Components.Schemas.GetOrZero("ErrorCode").Schema().Enum
	var documented []string
	for _, node := range enum {
		documented = append(documented, node.Value)
	}
	slices.Sort(documented)
	if !slices.Equal(documented, codes) {
		t.Errorf("ErrorCode enum: got %v, want the authcode constants %v", documented, codes)
	}

	// Each code appears under its status in the named-connection operation,
	// which can return every code but not_found, the error for unknown paths.
	op := s.model.Paths.PathItems.GetOrZero("/v1/auth-code/{connection}").Post
	for _, code := range codes {
		if code == string(authcode.CodeNotFound) {
			continue
		}
		status := strconv.Itoa(authcode.ErrorCode(code).Status())
		response := op.Responses.Codes.GetOrZero(status)
		if response == nil {
			t.Errorf("%s: status %s is not documented", code, status)
			continue
		}
		if allowed := documentedErrors(response); !slices.Contains(allowed, code) {
			t.Errorf("%s: the %s response allows %v, want it to include %s", code, status, allowed, code)
		}
	}
}

// endpointErrorCodes returns the sorted values of the ErrorCode constants
// declared in the authcode package's source, so that a code added there
// fails TestBackendErrorCodesMatchEndpoint until it is documented.
func endpointErrorCodes(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join("..", "authcode")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read the authcode package: %v", err)
	}
	var codes []string
	for _, entry := range entries {
		name := entry.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, decl := range file.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				value := spec.(*ast.ValueSpec)
				if typ, ok := value.Type.(*ast.Ident); !ok || typ.Name != "ErrorCode" {
					continue
				}
				for _, v := range value.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok {
						t.Fatalf("%s: an ErrorCode constant is not a string literal", name)
					}
					code, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatalf("%s: unquote %s: %v", name, lit.Value, err)
					}
					codes = append(codes, code)
				}
			}
		}
	}
	if len(codes) == 0 {
		t.Fatal("found no ErrorCode constants in the authcode package")
	}
	slices.Sort(codes)
	return codes
}

// documentedErrors returns the error codes that a documented error response
// allows: the enum or const that narrows its Error schema.
func documentedErrors(response *v3.Response) []string {
	media := response.Content.GetOrZero("application/json")
	if media == nil || media.Schema == nil {
		return nil
	}
	var allowed []string
	for _, part := range media.Schema.Schema().AllOf {
		properties := part.Schema().Properties
		if properties == nil {
			continue
		}
		errorField := properties.GetOrZero("error")
		if errorField == nil {
			continue
		}
		schema := errorField.Schema()
		for _, node := range schema.Enum {
			allowed = append(allowed, node.Value)
		}
		if schema.Const != nil {
			allowed = append(allowed, schema.Const.Value)
		}
	}
	return allowed
}

// requestCheck is the verdict the document must give on a request.
type requestCheck int

const (
	requestValid     requestCheck = iota // the document accepts the request
	requestInvalid                       // the document rejects it, as the server does
	requestUnchecked                     // the document cannot tell, such as for a body over 4 KiB
)

// step is one request of the end-to-end run and what must come back.
type step struct {
	name    string
	target  string // "backend" or "emulator"
	method  string
	path    string
	body    func(*state) string
	header  func(*state) http.Header
	session string // the dev user whose session cookie is sent
	repeat  int    // times to send the request; 0 means once

	want    int          // expected status
	request requestCheck // the document's verdict on the request

	// validateAs, when set, is the method whose operation the response is
	// checked against, for a method the document cannot declare.
	validateAs string

	// after reads what later steps need from the response body.
	after func(t *testing.T, s *state, body []byte)
}

// state is what the steps learn from earlier responses.
type state struct {
	dev      *devServer
	cookies  map[string]*http.Cookie // dev session cookie by user
	devToken string                  // bearer token from /dev/token
	lhToken  string                  // emulator access token
	codes    map[string]string       // codes by name
}

// text returns a body function for a fixed body.
func text(body string) func(*state) string {
	return func(*state) string { return body }
}

// jsonHeader is the header of a JSON request.
func jsonHeader(*state) http.Header {
	return http.Header{"Content-Type": {"application/json"}}
}

// withHeader returns jsonHeader plus name: value.
func withHeader(name, value string) func(*state) http.Header {
	return func(s *state) http.Header {
		h := jsonHeader(s)
		h.Set(name, value)
		return h
	}
}

// formHeader is the header of a form request.
func formHeader(*state) http.Header {
	return http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
}

// redeemBody returns a redeem request for the code named name.
func redeemBody(name, callerPhone string) func(*state) string {
	return func(s *state) string {
		body := map[string]string{"authenticationCode": s.codes[name]}
		if callerPhone != "" {
			body["callerPhone"] = callerPhone
		}
		b, _ := json.Marshal(body)
		return string(b)
	}
}

// saveCode stores the authenticationCode of a response under name.
func saveCode(name string) func(*testing.T, *state, []byte) {
	return func(t *testing.T, s *state, body []byte) {
		var got struct{ AuthenticationCode string }
		if err := json.Unmarshal(body, &got); err != nil || got.AuthenticationCode == "" {
			t.Fatalf("read code %q from %s: %v", name, body, err)
		}
		s.codes[name] = got.AuthenticationCode
	}
}

const (
	alicePhone = "+14155550100"
	carolPhone = "+14155550123"
	otherPhone = "+14155550199"
	foreign    = "https://evil.example"
)

// devSteps are the requests of the end-to-end run, in order. Each step may
// depend on the ones before it.
func devSteps() []step {
	var steps []step
	add := func(s ...step) { steps = append(steps, s...) }

	login := func(user, phone string) step {
		body := `{"user": "` + user + `"}`
		if phone != "" {
			body = `{"user": "` + user + `", "phone": "` + phone + `"}`
		}
		return step{
			name: "sign in " + user, target: "backend", method: "POST", path: "/dev/login",
			body: text(body), header: jsonHeader, want: 204,
		}
	}
	authCode := func(name, path, session string, want int) step {
		return step{
			name: name, target: "backend", method: "POST", path: path,
			body: text(`{}`), header: jsonHeader, session: session, want: want,
		}
	}
	fault := func(name, body string) step {
		return step{
			name: name, target: "emulator", method: "POST", path: "/emulator/v1/faults",
			body: text(body), header: jsonHeader, want: 204,
		}
	}
	clearFaults := step{name: "clear faults", target: "emulator", method: "DELETE", path: "/emulator/v1/faults", want: 204}

	// Probes, metrics and the demo page.
	add(
		step{name: "healthz", target: "backend", method: "GET", path: "/healthz", want: 200},
		step{name: "readyz", target: "backend", method: "GET", path: "/readyz", want: 200},
		step{name: "metrics", target: "backend", method: "GET", path: "/metrics", want: 200},
		step{name: "demo page", target: "backend", method: "GET", path: "/", want: 200},
		step{name: "demo script", target: "backend", method: "GET", path: "/static/app.js", want: 200},
		step{name: "demo style", target: "backend", method: "GET", path: "/static/style.css", want: 200},
		step{name: "missing asset", target: "backend", method: "GET", path: "/static/missing.js", want: 404},
	)

	// Sign-in and codes for alice.
	add(
		authCode("code without session", "/v1/auth-code", "", 401),
		login("alice", alicePhone),
		step{name: "sign in with invalid user", target: "backend", method: "POST", path: "/dev/login",
			body: text(`{"user": ""}`), header: jsonHeader, want: 400, request: requestInvalid},
		step{name: "sign in with invalid phone", target: "backend", method: "POST", path: "/dev/login",
			body: text(`{"user": "dave", "phone": "12"}`), header: jsonHeader, want: 400},
		step{name: "sign in with plain text", target: "backend", method: "POST", path: "/dev/login",
			body: text(`user=alice`), header: func(*state) http.Header { return http.Header{"Content-Type": {"text/plain"}} },
			want: 415, request: requestInvalid},
		step{name: "sign in from another site", target: "backend", method: "POST", path: "/dev/login",
			body: text(`{"user": "mallory"}`), header: withHeader("Origin", foreign), want: 403},
		step{name: "dev token", target: "backend", method: "POST", path: "/dev/token",
			body: text(`{"user": "alice", "phone": "` + alicePhone + `"}`), header: jsonHeader, want: 200,
			after: func(t *testing.T, s *state, body []byte) {
				var got struct{ AccessToken string }
				if err := json.Unmarshal(body, &got); err != nil || got.AccessToken == "" {
					t.Fatalf("read dev token from %s: %v", body, err)
				}
				s.devToken = got.AccessToken
			}},
		withAfter(authCode("code with session", "/v1/auth-code", "alice", 200), saveCode("relayed")),
		step{name: "redeem through relay", target: "backend", method: "POST", path: "/dev/redeem",
			body: redeemBody("relayed", ""), header: jsonHeader, session: "alice", want: 200},
		step{name: "redeem through relay again", target: "backend", method: "POST", path: "/dev/redeem",
			body: redeemBody("relayed", ""), header: jsonHeader, session: "alice", want: 409},
		step{name: "redeem unknown code through relay", target: "backend", method: "POST", path: "/dev/redeem",
			body: text(`{"authenticationCode": "LHv1_00000000000000000000000000000000"}`), header: jsonHeader, want: 404},
		step{name: "dev token as plain text", target: "backend", method: "POST", path: "/dev/token",
			body: text(`{"user": "alice"}`), header: func(*state) http.Header { return http.Header{"Content-Type": {"text/plain"}} },
			want: 415, request: requestInvalid},
		step{name: "sign out from another site", target: "backend", method: "POST", path: "/dev/logout",
			header: withHeader("Origin", foreign), session: "alice", want: 403},
		step{name: "code with bearer token", target: "backend", method: "POST", path: "/v1/auth-code/default",
			body: text(`{"callerPhone": "` + alicePhone + `"}`),
			header: func(s *state) http.Header {
				h := jsonHeader(s)
				h.Set("Authorization", "Bearer "+s.devToken)
				return h
			},
			want: 200, after: saveCode("direct")},
		step{name: "redeem from another phone", target: "emulator", method: "POST", path: "/emulator/v1/redeem",
			body: redeemBody("direct", otherPhone), header: jsonHeader, want: 403},
		step{name: "redeem", target: "emulator", method: "POST", path: "/emulator/v1/redeem",
			body: redeemBody("direct", alicePhone), header: jsonHeader, want: 200},
		step{name: "redeem again", target: "emulator", method: "POST", path: "/emulator/v1/redeem",
			body: redeemBody("direct", alicePhone), header: jsonHeader, want: 409},
		step{name: "redeem again with numeric phone", target: "emulator", method: "POST", path: "/emulator/v1/redeem",
			body:   func(s *state) string { return `{"authenticationCode": "` + s.codes["direct"] + `", "callerPhone": 5}` },
			header: jsonHeader, want: 409, request: requestInvalid},
		step{name: "redeem unknown code", target: "emulator", method: "POST", path: "/emulator/v1/redeem",
			body: text(`{"authenticationCode": "LHv1_00000000000000000000000000000000"}`), header: jsonHeader, want: 404},
		step{name: "redeem without code", target: "emulator", method: "POST", path: "/emulator/v1/redeem",
			body: text(`{}`), header: jsonHeader, want: 400, request: requestInvalid},
		step{name: "redeem preflight", target: "emulator", method: "OPTIONS", path: "/emulator/v1/redeem",
			header: func(*state) http.Header {
				return http.Header{"Origin": {foreign}, "Access-Control-Request-Method": {"POST"}}
			}, want: 204},
	)

	// Requests the auth-code endpoint rejects.
	add(
		step{name: "code with GET", target: "backend", method: "GET", path: "/v1/auth-code", session: "alice",
			want: 405, request: requestInvalid, validateAs: "POST"},
		step{name: "code body over 4 KiB", target: "backend", method: "POST", path: "/v1/auth-code",
			body: text(`{"callerPhone": "` + strings.Repeat("1", 5000) + `"}`), header: jsonHeader, session: "alice",
			want: 413, request: requestUnchecked},
		step{name: "code as plain text", target: "backend", method: "POST", path: "/v1/auth-code",
			body: text(`{}`), header: func(*state) http.Header { return http.Header{"Content-Type": {"text/plain"}} },
			session: "alice", want: 415, request: requestInvalid},
		step{name: "code with array body", target: "backend", method: "POST", path: "/v1/auth-code",
			body: text(`[]`), header: jsonHeader, session: "alice", want: 400, request: requestInvalid},
		step{name: "code with numeric phone", target: "backend", method: "POST", path: "/v1/auth-code",
			body: text(`{"callerPhone": 14155550100}`), header: jsonHeader, session: "alice", want: 400, request: requestInvalid},
		step{name: "code with unknown member", target: "backend", method: "POST", path: "/v1/auth-code",
			body: text(`{"phone": "` + alicePhone + `"}`), header: jsonHeader, session: "alice", want: 400, request: requestInvalid},
		step{name: "code with invalid phone", target: "backend", method: "POST", path: "/v1/auth-code",
			body: text(`{"callerPhone": "not a phone"}`), header: jsonHeader, session: "alice", want: 400},
		step{name: "code with another phone", target: "backend", method: "POST", path: "/v1/auth-code",
			body: text(`{"callerPhone": "` + otherPhone + `"}`), header: jsonHeader, session: "alice", want: 403},
		authCode("code for unknown connection", "/v1/auth-code/nope", "alice", 404),
		step{name: "code from another site", target: "backend", method: "POST", path: "/v1/auth-code",
			body: text(`{}`), header: withHeader("Origin", foreign), session: "alice", want: 403},
		step{name: "preflight from another site", target: "backend", method: "OPTIONS", path: "/v1/auth-code",
			header: func(*state) http.Header {
				return http.Header{"Origin": {foreign}, "Access-Control-Request-Method": {"POST"}}
			}, want: 403},
		step{name: "preflight for connection from another site", target: "backend", method: "OPTIONS", path: "/v1/auth-code/default",
			header: func(*state) http.Header {
				return http.Header{"Origin": {foreign}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"content-type"}}
			}, want: 403},
		step{name: "options without preflight", target: "backend", method: "OPTIONS", path: "/v1/auth-code", want: 204},
		step{name: "options for connection without preflight", target: "backend", method: "OPTIONS", path: "/v1/auth-code/default", want: 204},
	)

	// Dev mode gives each user 10 codes a minute.
	add(
		login("bob", ""),
		step{name: "bob codes 1 to 10", target: "backend", method: "POST", path: "/v1/auth-code",
			body: text(`{}`), header: jsonHeader, session: "bob", repeat: 10, want: 200, after: saveCode("bob")},
		authCode("bob code 11", "/v1/auth-code", "bob", 429),
		// bob has no phone, so the code asserts none and the result's
		// callerPhone is null.
		step{name: "redeem through relay without phone", target: "backend", method: "POST", path: "/dev/redeem",
			body: redeemBody("bob", ""), header: jsonHeader, session: "bob", want: 200,
			after: func(t *testing.T, s *state, body []byte) {
				var got map[string]any
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatalf("read redeem result from %s: %v", body, err)
				}
				if phone, ok := got["callerPhone"]; !ok || phone != nil {
					t.Errorf("got result %s, want callerPhone null", body)
				}
			}},
	)

	// The emulator's Live Hub endpoints.
	tokenForm := func(secret string) func(*state) string {
		return func(s *state) string {
			return "grant_type=client_credentials&client_id=" + s.dev.clientID + "&client_secret=" + secret
		}
	}
	bearer := func(s *state) http.Header {
		h := jsonHeader(s)
		h.Set("Authorization", "Bearer "+s.lhToken)
		return h
	}
	add(
		step{name: "token", target: "emulator", method: "POST", path: "/oauth/token",
			body: tokenForm("dev-secret"), header: formHeader, want: 200,
			after: func(t *testing.T, s *state, body []byte) {
				var got struct {
					AccessToken string `json:"access_token"`
				}
				if err := json.Unmarshal(body, &got); err != nil || got.AccessToken == "" {
					t.Fatalf("read access token from %s: %v", body, err)
				}
				s.lhToken = got.AccessToken
			}},
		step{name: "token with Basic", target: "emulator", method: "POST", path: "/oauth/token",
			body: text("grant_type=client_credentials"),
			header: func(s *state) http.Header {
				h := formHeader(s)
				r := &http.Request{Header: h}
				r.SetBasicAuth(s.dev.clientID, "dev-secret")
				return h
			}, want: 200},
		step{name: "token with wrong secret", target: "emulator", method: "POST", path: "/oauth/token",
			body: tokenForm("wrong"), header: formHeader, want: 401},
		step{name: "token with other grant", target: "emulator", method: "POST", path: "/oauth/token",
			body: func(s *state) string {
				return "grant_type=password&client_id=" + s.dev.clientID + "&client_secret=dev-secret"
			}, header: formHeader, want: 400},
		step{name: "token without grant", target: "emulator", method: "POST", path: "/oauth/token",
			body:   func(s *state) string { return "client_id=" + s.dev.clientID + "&client_secret=dev-secret" },
			header: formHeader, want: 400, request: requestInvalid},
		step{name: "generate without token", target: "emulator", method: "POST", path: "generate",
			body: text(`{}`), header: jsonHeader, want: 401, request: requestInvalid},
		step{name: "generate for unknown connection", target: "emulator", method: "POST", path: "generate:unknown",
			body: text(`{}`), header: bearer, want: 404},
		step{name: "generate with invalid phone", target: "emulator", method: "POST", path: "generate",
			body: text(`{"callerPhone": "123"}`), header: bearer, want: 400, request: requestInvalid},
		step{name: "generate body over 64 KiB", target: "emulator", method: "POST", path: "generate",
			body: text(`{"padding": "` + strings.Repeat("x", 70_000) + `"}`), header: bearer, want: 413, request: requestUnchecked},
		step{name: "generate", target: "emulator", method: "POST", path: "generate",
			body: text(`{}`), header: bearer, want: 200, after: saveCode("emulator")},
		step{name: "redeem code without phone", target: "emulator", method: "POST", path: "/emulator/v1/redeem",
			body: redeemBody("emulator", ""), header: jsonHeader, want: 200},
		step{name: "invalid fault", target: "emulator", method: "POST", path: "/emulator/v1/faults",
			body: text(`{"endpoint": "nowhere", "status": 200}`), header: jsonHeader, want: 400, request: requestInvalid},
	)

	// Live Hub failures as the backend reports them.
	add(
		login("carol", carolPhone),
		fault("fail generate with 503", `{"endpoint": "generate", "status": 503, "count": 0}`),
		authCode("code while Live Hub fails", "/v1/auth-code", "carol", 503),
		clearFaults,
		fault("fail generate with 404", `{"endpoint": "generate", "status": 404, "count": 1, "probability": 1}`),
		authCode("code for connection Live Hub lacks", "/v1/auth-code", "carol", 502),
		fault("delay generate", `{"endpoint": "generate", "count": 1, "latencyMs": 6000}`),
		authCode("code while Live Hub is slow", "/v1/auth-code", "carol", 504),
		step{name: "revoke tokens", target: "emulator", method: "POST", path: "/emulator/v1/revoke-tokens", want: 204},
		authCode("code after revocation", "/v1/auth-code", "alice", 200),
		step{name: "stats", target: "emulator", method: "GET", path: "/emulator/v1/stats", want: 200,
			after: func(t *testing.T, s *state, body []byte) {
				var got struct{ TokenRequests, GenerateRequests, CodesIssued, Redeemed int }
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatalf("read stats from %s: %v", body, err)
				}
				if got.Redeemed != 4 {
					t.Errorf("redeemed: got %d, want 4", got.Redeemed)
				}
			}},
		step{name: "revoke tokens again", target: "emulator", method: "POST", path: "/emulator/v1/revoke-tokens", want: 204},
		fault("fail token with 503", `{"endpoint": "token", "status": 503, "count": 0}`),
		authCode("code while tokens fail", "/v1/auth-code", "carol", 503),
		step{name: "readyz while tokens fail", target: "backend", method: "GET", path: "/readyz", want: 503},
		clearFaults,
		step{name: "sign out", target: "backend", method: "POST", path: "/dev/logout", session: "alice", want: 204},
	)
	return steps
}

// withAfter returns s with after set.
func withAfter(s step, after func(*testing.T, *state, []byte)) step {
	s.after = after
	return s
}

func TestDevServerMatchesDocuments(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs c2cauth dev")
	}
	specs := map[string]*spec{
		"backend":  loadSpec(t, "c2cauth.yaml", openapi.Backend),
		"emulator": loadSpec(t, "emulator.yaml", openapi.Emulator),
	}
	dev := startDev(t, buildBinary(t))
	client := &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()

	s := &state{dev: dev, cookies: map[string]*http.Cookie{}, codes: map[string]string{}}
	covered := map[string]bool{}          // "target METHOD /path"
	statuses := map[string]map[int]bool{} // statuses seen by operation
	for _, st := range devSteps() {
		t.Run(st.name, func(t *testing.T) {
			for range max(st.repeat, 1) {
				op, status := run(t, client, specs[st.target], s, st)
				if op != "" {
					covered[st.target+" "+op] = true
					if statuses[st.target+" "+op] == nil {
						statuses[st.target+" "+op] = map[int]bool{}
					}
					statuses[st.target+" "+op][status] = true
				}
			}
		})
	}

	for target, sp := range specs {
		for _, op := range sp.operations() {
			if !covered[target+" "+op] {
				t.Errorf("%s: operation %s was never exercised", sp.name, op)
			}
		}
	}
	logUnexercisedStatuses(t, specs, statuses)

	dev.stop(t)
	if t.Failed() {
		t.Logf("c2cauth dev log:\n%s", dev.stderr())
	}
}

// run sends one request of st, checks the request and response against sp
// and returns the operation it exercised with the status it got.
func run(t *testing.T, client *http.Client, sp *spec, s *state, st step) (operation string, status int) {
	t.Helper()
	base := s.dev.backendURL
	if st.target == "emulator" {
		base = s.dev.emulatorURL
	}
	path := st.path
	switch path {
	case "generate":
		path = "/api/v1/sipConnections/" + s.dev.sipConnection + "/generateAuthenticationCode"
	case "generate:unknown":
		path = "/api/v1/sipConnections/no-such-connection/generateAuthenticationCode"
	}
	var body []byte
	if st.body != nil {
		body = []byte(st.body(s))
	}
	newRequest := func(method string) *http.Request {
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatalf("new request: %v", err)
		}
		if st.header != nil {
			req.Header = st.header(s)
		}
		if st.session != "" {
			cookie := s.cookies[st.session]
			if cookie == nil {
				t.Fatalf("no session cookie for %q; its sign-in failed", st.session)
			}
			req.AddCookie(cookie)
		}
		return req
	}

	ok, errs := sp.validator.ValidateHttpRequest(newRequest(st.method))
	switch {
	case st.request == requestValid && !ok:
		t.Errorf("%s %s: the document rejects the request:\n%s", st.method, path, describe(errs))
	case st.request == requestInvalid && ok:
		t.Errorf("%s %s: the document accepts a request that the server rejects", st.method, path)
	}

	resp, err := client.Do(newRequest(st.method))
	if err != nil {
		t.Fatalf("%s %s: %v", st.method, path, err)
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: read response: %v", st.method, path, err)
	}
	if resp.StatusCode != st.want {
		t.Errorf("%s %s: got status %d, want %d; body %s", st.method, path, resp.StatusCode, st.want, respBody)
	}

	asMethod := st.method
	if st.validateAs != "" {
		asMethod = st.validateAs
	}
	asRequest := newRequest(asMethod)
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if ok, errs := sp.validator.ValidateHttpResponse(asRequest, resp); !ok {
		t.Errorf("%s %s: the %d response does not match the document:\n%sbody: %s", asMethod, path, resp.StatusCode, describe(errs), respBody)
	}

	for _, c := range resp.Cookies() {
		if c.Name == "c2cauth_dev_session" && c.Value != "" && st.path == "/dev/login" {
			var login struct{ User string }
			json.Unmarshal(body, &login)
			s.cookies[login.User] = c
		}
	}
	if st.after != nil && resp.StatusCode == st.want {
		st.after(t, s, respBody)
	}

	route, err := sp.router.FindRoute(asRequest)
	if err != nil || route == nil || route.Operation == nil {
		t.Errorf("%s %s: no operation of %s matches the request: %v", asMethod, path, sp.name, err)
		return "", resp.StatusCode
	}
	return asMethod + " " + route.Path, resp.StatusCode
}

// logUnexercisedStatuses lists the documented statuses that no step got,
// so a reader sees what the run leaves unchecked.
func logUnexercisedStatuses(t *testing.T, specs map[string]*spec, seen map[string]map[int]bool) {
	t.Helper()
	for _, target := range slices.Sorted(maps.Keys(specs)) {
		sp := specs[target]
		for path, item := range sp.model.Paths.PathItems.FromOldest() {
			for method, op := range item.GetOperations().FromOldest() {
				key := target + " " + strings.ToUpper(method) + " " + path
				var missing []string
				for code := range op.Responses.Codes.KeysFromOldest() {
					status, err := strconv.Atoi(code)
					if err == nil && !seen[key][status] {
						missing = append(missing, code)
					}
				}
				if len(missing) > 0 {
					t.Logf("%s: %s %s: documented statuses not exercised: %s", sp.name, strings.ToUpper(method), path, strings.Join(missing, ", "))
				}
			}
		}
	}
}

// Package authcode is the backend endpoint that hands a site's visitors
// AudioCodes Live Hub click-to-call authentication codes.
//
// A Handler serves POST /v1/auth-code (the default SIP connection) and
// POST /v1/auth-code/{connection} (a named one). It speaks the syntax the
// click-to-call widget's authURL option expects: a JSON object in, at most
// a "callerPhone" member, and exactly {"authenticationCode": "..."} out.
// Every request passes the same policies in the same order, each a field
// of Config:
//
//  1. method: POST, or OPTIONS for CORS preflight;
//  2. origin (Config.Origin): where the request comes from;
//  3. identity (Config.Authenticator): who asks;
//  4. connection: which configured SIP connection the path names;
//  5. body: one small JSON object;
//  6. caller phone (Config.CallerPhone): which phone Live Hub is asked to assert;
//  7. limits (Config.Limiter): how often;
//  8. Live Hub: the code itself.
//
// The first policy that rejects a request decides its JSON error response,
// and the handler logs one audit event per request.
package authcode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/internal/jsonbody"
	"github.com/c2cauth/c2cauth/phone"
	"github.com/c2cauth/c2cauth/ratelimit"
)

// maxConnectionNameLength bounds the connection name that an error message
// echoes and the audit log records.
const maxConnectionNameLength = 64

// Defaults for the zero values of Config.
const (
	DefaultUpstreamTimeout = 5 * time.Second
	DefaultMaxBodyBytes    = 4 << 10
)

// CodeSource obtains authentication codes from Live Hub. *livehub.Client
// implements it.
type CodeSource interface {
	GenerateAuthenticationCode(ctx context.Context, sipConnectionID, callerPhone string) (string, error)
}

// OriginPolicy decides where requests may come from. Check returns nil to
// let an unsafe (POST) request through, or an error that rejects it with
// 403, which stops cross-site request forgery. AllowCORS reports whether a
// page at origin may read responses with credentials, which decides CORS
// preflight requests.
type OriginPolicy interface {
	Check(r *http.Request) error
	AllowCORS(origin string) bool
}

// Limiter decides how often a caller may obtain codes. *ratelimit.Limiter
// implements it. Allow returns nil to let the request through, a
// *ratelimit.Exceeded to respond 429 with its Retry-After, or any other
// error when the limit could not be checked, which responds 503.
type Limiter interface {
	Allow(ctx context.Context, r *http.Request, id identity.Identity) error
}

// Config is everything a Handler depends on.
type Config struct {
	// Codes obtains codes from Live Hub. Required.
	Codes CodeSource

	// Connections maps the connection names that clients may put in the
	// path to Live Hub SIP connection IDs. Clients never name an ID, so a
	// visitor cannot start calls on a connection the site did not offer.
	Connections map[string]string

	// DefaultConnection is the name in Connections that POST /v1/auth-code
	// uses. Required.
	DefaultConnection string

	// Authenticator decides who is asking. Required; identity.None must be
	// chosen explicitly for a public site.
	Authenticator identity.Authenticator

	// Origin rejects cross-site requests. Nil means no origin checks, for a
	// program that mounts the handler behind its own CSRF protection.
	Origin OriginPolicy

	// Limiter bounds how often codes are issued. Nil means no limits.
	Limiter Limiter

	// CallerPhone chooses where the asserted caller phone comes from. The
	// zero value is PhoneFromIdentity.
	CallerPhone PhoneMode

	// DefaultRegion is the region (such as "US") for request phone numbers
	// written without a country code. Empty means such numbers are invalid.
	DefaultRegion string

	// UpstreamTimeout bounds the time spent on Live Hub for one request.
	// Zero means DefaultUpstreamTimeout.
	UpstreamTimeout time.Duration

	// MaxBodyBytes bounds the request body. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// Logger receives one audit event per request. Nil means no logs.
	Logger *slog.Logger

	// OnResult, when set, is called after each request with the connection
	// name and the outcome, "issued" or the error code, for metrics. The
	// connection is a configured name, or "unknown" when the request named
	// none that is configured or was rejected before its connection was
	// looked up, so that visitors cannot create new values.
	OnResult func(ctx context.Context, connection, outcome string)

	// Now returns the current time; nil means time.Now. It measures latency.
	Now func() time.Time
}

// Handler serves the auth-code endpoint. It is safe for concurrent use.
type Handler struct {
	cfg    Config
	logger *slog.Logger
}

// New validates cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	var problems []error
	if cfg.Codes == nil {
		problems = append(problems, errors.New("authcode: Codes is required"))
	}
	if cfg.Authenticator == nil {
		problems = append(problems, errors.New("authcode: Authenticator is required; use identity.None to allow anonymous visitors"))
	}
	if _, ok := cfg.Connections[cfg.DefaultConnection]; !ok {
		problems = append(problems, fmt.Errorf("authcode: default connection %q is not in Connections", cfg.DefaultConnection))
	}
	for name, id := range cfg.Connections {
		if name == "" || id == "" {
			problems = append(problems, fmt.Errorf("authcode: connection %q has an empty name or SIP connection ID", name))
		}
	}
	if !cfg.CallerPhone.valid() {
		problems = append(problems, fmt.Errorf("authcode: unknown caller phone mode %q", cfg.CallerPhone))
	}
	if cfg.DefaultRegion != "" && !phone.ValidRegion(cfg.DefaultRegion) {
		problems = append(problems, fmt.Errorf("authcode: unknown default region %q", cfg.DefaultRegion))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}

	if cfg.CallerPhone == "" {
		cfg.CallerPhone = PhoneFromIdentity
	}
	if cfg.UpstreamTimeout <= 0 {
		cfg.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, logger: logger}, nil
}

// Register adds the handler to mux under /v1/auth-code and
// /v1/auth-code/{connection}. The patterns carry no method, so that the
// handler itself responds to OPTIONS and other methods with JSON.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("/v1/auth-code", h)
	mux.Handle("/v1/auth-code/{connection}", h)
}

// request holds the facts about one request that the audit log records.
type request struct {
	identity    identity.Identity
	connection  string
	callerPhone string
	code        string
}

// ServeHTTP serves one auth-code request. The connection name comes from
// the {connection} path wildcard; without one the default connection is used.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.cfg.Now()
	h.setCORSHeaders(w, r)
	var req request
	err := h.serve(w, r, &req)
	if err != nil {
		if r.Method != http.MethodPost && r.Method != http.MethodOptions {
			w.Header().Set("Allow", "OPTIONS, POST")
		}
		WriteError(w, err)
	}
	h.audit(r, &req, err, h.cfg.Now().Sub(start))
	h.reportResult(r, &req, err)
}

// reportResult calls OnResult for every request but a granted preflight.
func (h *Handler) reportResult(r *http.Request, req *request, err error) {
	if h.cfg.OnResult == nil || r.Method == http.MethodOptions && err == nil {
		return
	}
	connection := "unknown"
	if _, ok := h.cfg.Connections[req.connection]; ok {
		connection = req.connection
	}
	outcome := "issued"
	if err != nil {
		outcome = string(CodeInternal)
		if e, ok := errors.AsType[*Error](err); ok {
			outcome = string(e.Code)
		}
	}
	h.cfg.OnResult(r.Context(), connection, outcome)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, req *request) error {
	switch r.Method {
	case http.MethodPost:
	case http.MethodOptions:
		return h.preflight(w, r)
	default:
		return errorf(CodeMethodNotAllowed, "Use POST to request an authentication code.")
	}

	if h.cfg.Origin != nil {
		if err := h.cfg.Origin.Check(r); err != nil {
			return &Error{Code: CodeOriginNotAllowed, Message: "Requests from this origin are not allowed.", Err: err}
		}
	}

	id, err := h.cfg.Authenticator.Authenticate(r)
	if err != nil {
		if errors.Is(err, identity.ErrUnauthenticated) {
			return &Error{Code: CodeUnauthenticated, Message: "Sign in to place a call.", Err: err}
		}
		return &Error{Code: CodeIdentityUnavailable, Message: "Your sign-in could not be checked right now; try again shortly.", RetryAfter: time.Second, Err: err}
	}
	req.identity = id

	req.connection = r.PathValue("connection")
	if req.connection == "" {
		req.connection = h.cfg.DefaultConnection
	}
	sipConnectionID, ok := h.cfg.Connections[req.connection]
	if !ok {
		if len(req.connection) > maxConnectionNameLength {
			// Configured names are short, so a long one is not echoed or
			// logged whole.
			req.connection = req.connection[:maxConnectionNameLength] + "…"
			return errorf(CodeUnknownConnection, "There is no connection with that name.")
		}
		return errorf(CodeUnknownConnection, "There is no connection named %q.", req.connection)
	}

	var requestPhone string
	if err := jsonbody.Read(w, r, h.cfg.MaxBodyBytes, map[string]*string{"callerPhone": &requestPhone}); err != nil {
		return BodyError(err, h.cfg.MaxBodyBytes)
	}

	callerPhone, err := h.callerPhone(id, requestPhone)
	if err != nil {
		return err
	}
	req.callerPhone = callerPhone

	if h.cfg.Limiter != nil {
		if err := h.cfg.Limiter.Allow(r.Context(), r, id); err != nil {
			return limitError(err)
		}
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.UpstreamTimeout)
	defer cancel()
	code, err := h.cfg.Codes.GenerateAuthenticationCode(ctx, sipConnectionID, callerPhone)
	if err != nil {
		return upstreamError(ctx, err, req)
	}
	if !validCode(code) {
		return errorf(CodeLiveHubRejected, "Live Hub sent an authentication code in an unexpected format.")
	}
	req.code = code

	writeCode(w, code)
	return nil
}

// writeCode writes the success response. The body is built by hand because
// validCode has already limited code to characters that need no escaping.
func writeCode(w http.ResponseWriter, code string) {
	header := w.Header()
	header.Set("Content-Type", "application/json")
	header.Set("Cache-Control", "no-store")
	header.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(`{"authenticationCode":"` + code + `"}`))
}

// BodyError turns an error from reading a JSON request body of at most
// maxBytes into a 415, 413 or 400 response error, for other JSON endpoints
// of the same server.
func BodyError(err error, maxBytes int64) *Error {
	switch {
	case errors.Is(err, jsonbody.ErrNotJSON):
		return errorf(CodeUnsupportedMediaType, "Send the request body as uncompressed application/json.")
	case errors.Is(err, jsonbody.ErrTooLarge):
		return errorf(CodeBodyTooLarge, "The request body is larger than %d bytes.", maxBytes)
	default:
		return &Error{Code: CodeInvalidRequest, Message: sentence(err), Err: err}
	}
}

// limitError turns a Limiter error into the endpoint's error. A limit that
// could not be checked fails closed, because an open limiter lets anyone
// start paid calls.
func limitError(err error) *Error {
	if exceeded, ok := errors.AsType[*ratelimit.Exceeded](err); ok {
		return &Error{Code: CodeRateLimited, Message: "Too many call requests; try again later.", RetryAfter: exceeded.RetryAfter, Err: err}
	}
	return &Error{Code: CodeLimitUnavailable, Message: "Call requests cannot be accepted right now; try again shortly.", RetryAfter: time.Second, Err: err}
}

package emulator

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Default lifetimes, as Live Hub's documentation states them.
const (
	DefaultTokenTTL = time.Hour
	DefaultCodeTTL  = time.Minute
)

// Config is the emulator's configuration. Only ClientID and ClientSecret are
// required.
type Config struct {
	// ClientID and ClientSecret are the credentials of the one API client the
	// emulator accepts. When either is empty, every token request fails with
	// invalid_client.
	ClientID     string
	ClientSecret string

	// SIPConnections lists the SIP connection IDs that exist. Generating a
	// code for any other ID returns 404.
	SIPConnections []string

	// TokenTTL is the lifetime of an access token, reported in expires_in.
	// Zero or negative means DefaultTokenTTL.
	TokenTTL time.Duration

	// CodeTTL is the lifetime of an authentication code. Zero or negative
	// means DefaultCodeTTL.
	CodeTTL time.Duration

	// OmitExpiresIn leaves expires_in out of token responses, so tests can
	// check a client's default token lifetime. Tokens still expire after
	// TokenTTL.
	OmitExpiresIn bool

	// MaxRememberedCodes bounds the memory that issued codes take, for long
	// load tests. The emulator remembers every code it issues, so that a
	// used or expired code gets 409 or 410, until it stops or contains more
	// than this many codes. From then on each new code makes it drop the
	// oldest expired codes, which then get 404. Codes still valid are never
	// dropped. Zero or negative means DefaultMaxRememberedCodes.
	MaxRememberedCodes int

	// Now returns the current time for token and code expiry. Nil means
	// time.Now. Fault latency always uses the real clock.
	Now func() time.Time
}

// Emulator is a Live Hub emulator. Its methods and ServeHTTP are safe for
// concurrent use.
type Emulator struct {
	clientID       string
	secretMu       sync.Mutex
	clientSecret   string // guarded by secretMu, because SetClientSecret may change it
	sipConnections map[string]bool
	tokenTTL       time.Duration
	codeTTL        time.Duration
	omitExpiresIn  bool
	now            func() time.Time

	mux *http.ServeMux

	tokensMu sync.Mutex
	tokens   expiringMap[tokenHash, time.Time] // token hash to expiry

	codesMu sync.Mutex
	codes   codeStore

	faultsMu sync.Mutex
	faults   []*queuedFault

	tokenRequests    atomic.Int64
	generateRequests atomic.Int64
	codesIssued      atomic.Int64
	redeemed         atomic.Int64
}

// New returns an emulator configured by cfg.
func New(cfg Config) *Emulator {
	e := &Emulator{
		clientID:       cfg.ClientID,
		clientSecret:   cfg.ClientSecret,
		sipConnections: make(map[string]bool, len(cfg.SIPConnections)),
		tokenTTL:       cfg.TokenTTL,
		codeTTL:        cfg.CodeTTL,
		omitExpiresIn:  cfg.OmitExpiresIn,
		now:            cfg.Now,
		tokens:         newExpiringMap[tokenHash, time.Time](),
	}
	for _, id := range cfg.SIPConnections {
		e.sipConnections[id] = true
	}
	if e.tokenTTL <= 0 {
		e.tokenTTL = DefaultTokenTTL
	}
	if e.codeTTL <= 0 {
		e.codeTTL = DefaultCodeTTL
	}
	if e.now == nil {
		e.now = time.Now
	}
	maxCodes := cfg.MaxRememberedCodes
	if maxCodes <= 0 {
		maxCodes = DefaultMaxRememberedCodes
	}
	e.codes = newCodeStore(maxCodes, e.now())
	e.mux = e.routes()
	return e
}

// ServeHTTP serves Live Hub's endpoints and the emulator's own.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mux.ServeHTTP(w, r)
}

// Stats holds the emulator's counters since it started.
type Stats struct {
	// TokenRequests counts requests to the token endpoint, failed and
	// faulted ones included.
	TokenRequests int64 `json:"tokenRequests"`
	// GenerateRequests counts requests to the generate endpoint, failed and
	// faulted ones included.
	GenerateRequests int64 `json:"generateRequests"`
	// CodesIssued counts authentication codes generated.
	CodesIssued int64 `json:"codesIssued"`
	// Redeemed counts successful redeems.
	Redeemed int64 `json:"redeemed"`
}

// Stats returns a snapshot of the counters. Each counter is read atomically,
// but the four are not read at one instant.
func (e *Emulator) Stats() Stats {
	return Stats{
		TokenRequests:    e.tokenRequests.Load(),
		GenerateRequests: e.generateRequests.Load(),
		CodesIssued:      e.codesIssued.Load(),
		Redeemed:         e.redeemed.Load(),
	}
}

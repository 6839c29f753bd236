package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/c2cauth/c2cauth/authcode"
	"github.com/c2cauth/c2cauth/livehub"
)

// baselineCommand is the hidden subcommand that runs the baseline backend.
const baselineCommand = "baseline"

// goroutinesPath is the baseline's stand-in for c2cauth's /metrics: it
// returns the go_goroutines sample alone, in the Prometheus text format.
const goroutinesPath = "/debug/goroutines"

// baselineHandler is the baseline: the smallest correct backend for the
// job, and the reference that c2cauth is measured against. On every POST
// it requests a code for one fixed SIP connection from Live Hub and
// returns it. The Live Hub client caches the access token. The handler
// reads no body, checks no sign-in, origin or limit, and logs nothing.
type baselineHandler struct {
	codes           authcode.CodeSource
	sipConnectionID string
}

// codeResponse is the success body, as Live Hub and c2cauth send it.
type codeResponse struct {
	AuthenticationCode string `json:"authenticationCode"`
}

func (h *baselineHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code, err := h.codes.GenerateAuthenticationCode(r.Context(), h.sipConnectionID, "")
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, `{"error":"livehub_unavailable","message":"Live Hub could not issue a code."}`)
		return
	}
	body, err := json.Marshal(codeResponse{AuthenticationCode: code})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}

// newBaselineMux returns the baseline's routes: the auth-code endpoint and
// the goroutine count.
func newBaselineMux(codes authcode.CodeSource, sipConnectionID string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/auth-code", &baselineHandler{codes: codes, sipConnectionID: sipConnectionID})
	mux.HandleFunc("GET "+goroutinesPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, "go_goroutines "+strconv.Itoa(runtime.NumGoroutine())+"\n")
	})
	return mux
}

// runBaseline serves the baseline until ctx is cancelled. The client secret
// comes from LIVEHUB_CLIENT_SECRET, as it does for c2cauth.
func runBaseline(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(baselineCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "`address` to listen on")
	liveHubURL := fs.String("livehub-url", "", "base `URL` of Live Hub or its emulator")
	clientID := fs.String("client-id", "", "Live Hub API client `ID`")
	sipConnection := fs.String("sip-connection", "", "Live Hub SIP connection `ID` for every code")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret := getenv("LIVEHUB_CLIENT_SECRET")
	if *liveHubURL == "" || *clientID == "" || *sipConnection == "" || secret == "" {
		return errors.New("baseline: --livehub-url, --client-id, --sip-connection and LIVEHUB_CLIENT_SECRET are required")
	}

	client := &livehub.Client{BaseURL: *liveHubURL, ClientID: *clientID, ClientSecret: secret}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("baseline: listen on %q: %w", *listen, err)
	}
	srv := &http.Server{
		Handler:           newBaselineMux(client, *sipConnection),
		ReadHeaderTimeout: 5 * time.Second,
	}
	fmt.Fprintf(stdout, "baseline listening on http://%s\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("baseline: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

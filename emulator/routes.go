package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
)

// routes builds the emulator's request multiplexer: every path and method it
// serves is listed here.
func (e *Emulator) routes() *http.ServeMux {
	mux := http.NewServeMux()

	// Live Hub's documented endpoints.
	handle(mux, "/oauth/token", map[string]http.HandlerFunc{
		http.MethodPost: e.endpoint(endpointToken, &e.tokenRequests, e.handleToken),
	})
	handle(mux, "/api/v1/sipConnections/{sipConnectionId}/generateAuthenticationCode", map[string]http.HandlerFunc{
		http.MethodPost: e.endpoint(endpointGenerate, &e.generateRequests, e.handleGenerate),
	})

	// The stand-in for the click-to-call SDK starting a call.
	handle(mux, "/emulator/v1/redeem", map[string]http.HandlerFunc{
		http.MethodPost:    allowAnyOrigin(e.endpoint(endpointRedeem, nil, e.handleRedeem)),
		http.MethodOptions: handleRedeemPreflight,
	})

	// Test controls.
	handle(mux, "/emulator/v1/faults", map[string]http.HandlerFunc{
		http.MethodPost:   e.handleAddFault,
		http.MethodDelete: e.handleClearFaults,
	})
	handle(mux, "/emulator/v1/revoke-tokens", map[string]http.HandlerFunc{
		http.MethodPost: e.handleRevokeTokens,
	})
	handle(mux, "/emulator/v1/stats", map[string]http.HandlerFunc{
		http.MethodGet: e.handleStats,
	})

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no endpoint at %q", r.URL.Path))
	})
	return mux
}

// handle registers one handler per method for path, and a handler that
// responds to every other method with 405, an Allow header and a JSON body.
// ServeMux would otherwise reject a wrong method in plain text.
func handle(mux *http.ServeMux, path string, byMethod map[string]http.HandlerFunc) {
	var allowed []string
	for method, h := range byMethod {
		mux.HandleFunc(method+" "+path, h)
		allowed = append(allowed, method)
		if method == http.MethodGet {
			// ServeMux routes HEAD to a GET pattern.
			allowed = append(allowed, http.MethodHead)
		}
	}
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")

	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("method %s is not allowed for %s, use %s", r.Method, path, allow))
	})
}

// endpoint wraps the handler of a Live Hub endpoint or of redeem: it counts
// the request in counter, when there is one, and applies the first queued
// fault for name before h runs.
func (e *Emulator) endpoint(name string, counter *atomic.Int64, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if counter != nil {
			counter.Add(1)
		}
		if e.applyFault(w, r, name) {
			return
		}
		h(w, r)
	}
}

// allowAnyOrigin lets pages on any origin read h's responses, faulted ones
// included.
func allowAnyOrigin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		h(w, r)
	}
}

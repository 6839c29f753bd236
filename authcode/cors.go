package authcode

import (
	"net/http"
	"strconv"
	"time"
)

// corsMaxAge is how long a browser may cache a preflight response.
const corsMaxAge = 10 * time.Minute

// corsAllowedHeaders are the request headers a page may send: the JSON
// content type, a bearer token for sites that sign in that way, and a
// request ID for tracing.
const corsAllowedHeaders = "Content-Type, Authorization, X-Request-ID"

// corsExposedHeaders are the response headers a page may read.
const corsExposedHeaders = "Retry-After, X-Request-ID"

// setCORSHeaders lets the page at the request's Origin read the response,
// with credentials, when the origin policy allows that origin. It never
// sends a wildcard, because browsers must not share credentialed responses
// with every origin.
func (h *Handler) setCORSHeaders(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Origin == nil {
		return
	}
	header := w.Header()
	header.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || !h.cfg.Origin.AllowCORS(origin) {
		return
	}
	header.Set("Access-Control-Allow-Origin", origin)
	header.Set("Access-Control-Allow-Credentials", "true")
	header.Set("Access-Control-Expose-Headers", corsExposedHeaders)
}

// preflight handles an OPTIONS request. A CORS preflight from an allowed
// origin for POST gets the CORS grant. One from any other origin gets 403,
// so the browser never sends the real request. An OPTIONS request that is
// not a preflight gets the allowed methods.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request) error {
	header := w.Header()
	header.Set("Allow", "OPTIONS, POST")
	method := r.Header.Get("Access-Control-Request-Method")
	origin := r.Header.Get("Origin")
	if method == "" || origin == "" {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}

	header.Add("Vary", "Access-Control-Request-Method")
	header.Add("Vary", "Access-Control-Request-Headers")
	if h.cfg.Origin == nil || !h.cfg.Origin.AllowCORS(origin) {
		return errorf(CodeOriginNotAllowed, "Requests from origin %q are not allowed.", origin)
	}
	if method != http.MethodPost {
		return errorf(CodeMethodNotAllowed, "Only POST requests may be sent from other origins.")
	}
	header.Set("Access-Control-Allow-Methods", "POST")
	header.Set("Access-Control-Allow-Headers", corsAllowedHeaders)
	header.Set("Access-Control-Max-Age", strconv.Itoa(int(corsMaxAge.Seconds())))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

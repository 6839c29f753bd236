package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/c2cauth/c2cauth/authcode"
	"github.com/c2cauth/c2cauth/requestid"
)

// readyTimeout bounds a readiness check, which may fetch an access token.
const readyTimeout = 3 * time.Second

// backend is the set of dependencies of the backend's routes.
type backend struct {
	authCode   *authcode.Handler
	ready      func(context.Context) error // nil error when Live Hub can be called
	logger     *slog.Logger
	dev        *devRoutes                      // nil outside dev mode
	metrics    http.Handler                    // nil when /metrics is on the admin listener
	instrument func(http.Handler) http.Handler // counts requests by route; nil means none
}

// routes returns the backend's HTTP handler. Every route of the backend is
// registered here.
func routes(b backend) http.Handler {
	mux := http.NewServeMux()
	b.authCode.Register(mux)
	mux.Handle("/healthz", getOnly(http.HandlerFunc(handleHealthz)))
	mux.Handle("/readyz", getOnly(handleReadyz(b.ready, b.logger)))
	if b.metrics != nil {
		mux.Handle("/metrics", getOnly(b.metrics))
	}

	if b.dev != nil {
		mux.Handle("GET /{$}", b.dev.page())
		mux.Handle("GET /static/", b.dev.page())
		mux.Handle("/dev/login", postOnly(b.dev.protect(http.HandlerFunc(b.dev.login))))
		mux.Handle("/dev/logout", postOnly(b.dev.protect(http.HandlerFunc(b.dev.logout))))
		mux.Handle("/dev/token", postOnly(b.dev.protect(http.HandlerFunc(b.dev.token))))
		mux.Handle("/dev/redeem", postOnly(b.dev.protect(http.HandlerFunc(b.dev.redeem))))
	}

	mux.Handle("/", http.HandlerFunc(handleNotFound))
	var handler http.Handler = mux
	if b.instrument != nil {
		handler = b.instrument(mux)
	}
	return requestid.Middleware(handler)
}

// adminRoutes returns the handler of the admin listener: the probes, the
// metrics and, with profiles, Go's runtime profiles, away from the public
// port.
func adminRoutes(ready func(context.Context) error, metrics http.Handler, logger *slog.Logger, profiles bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", getOnly(metrics))
	if profiles {
		// Not /debug/pprof/cmdline: the command line can hold a URL with a
		// password or a key in its query.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("/healthz", getOnly(http.HandlerFunc(handleHealthz)))
	mux.Handle("/readyz", getOnly(handleReadyz(ready, logger)))
	mux.Handle("/", http.HandlerFunc(handleNotFound))
	return requestid.Middleware(mux)
}

func handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeStatus(w, http.StatusOK, "ok")
}

func handleReadyz(ready func(context.Context) error, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := ready(ctx); err != nil {
			logger.WarnContext(ctx, "not ready", "request_id", requestid.FromContext(ctx), "error", err)
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"unavailable","error":"livehub_unavailable","message":"No Live Hub access token can be obtained right now; the log says why."}` + "\n"))
			return
		}
		writeStatus(w, http.StatusOK, "ready")
	})
}

func handleNotFound(w http.ResponseWriter, r *http.Request) {
	authcode.WriteError(w, &authcode.Error{Code: authcode.CodeNotFound, Message: "There is nothing at this path."})
}

// writeStatus writes a small JSON status document for probes.
func writeStatus(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(`{"status":"` + text + `"}` + "\n"))
}

// getOnly rejects every method but GET and HEAD with a JSON 405.
func getOnly(next http.Handler) http.Handler {
	return allowMethods(next, "GET, HEAD", http.MethodGet, http.MethodHead)
}

// postOnly rejects every method but POST with a JSON 405.
func postOnly(next http.Handler) http.Handler {
	return allowMethods(next, "POST", http.MethodPost)
}

func allowMethods(next http.Handler, allow string, methods ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range methods {
			if r.Method == m {
				next.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("Allow", allow)
		authcode.WriteError(w, &authcode.Error{Code: authcode.CodeMethodNotAllowed, Message: "Use " + allow + " for this path."})
	})
}

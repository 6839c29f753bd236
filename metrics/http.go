package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Instrument returns a handler that serves requests with next and counts
// them by route, method and status, times them, and tracks how many are in
// flight.
//
// next must be the *http.ServeMux itself, or a handler that passes the
// request it received to the mux unchanged. The route is the pattern that
// the mux stores in r.Pattern of that request (Go 1.23 and later), read
// after next returns. A middleware between the two that replaces the
// request, as r.WithContext does, hides the pattern, and every request is
// then counted as "unmatched". Put such middleware outside: wrap
// Instrument(mux), not the reverse.
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.httpInFlight.Inc()
		defer m.httpInFlight.Dec()
		start := m.now()

		recorder := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(recorder, r)

		child := m.httpChild(r.Pattern, r.Method, recorder.finalStatus())
		child.requests.Inc()
		child.duration.Observe(m.now().Sub(start).Seconds())
	})
}

// httpKey identifies the series of one request. The mux's patterns, the
// method labels and the statuses net/http accepts are all bounded sets.
type httpKey struct {
	pattern string
	method  string
	status  int
}

// httpChild holds the series of one httpKey.
type httpChild struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// httpChild returns the series of a request that matched pattern ("" when
// none did), with method and the final status.
func (m *Metrics) httpChild(pattern, method string, status int) httpChild {
	key := httpKey{pattern: pattern, method: methodLabel(method), status: status}
	return m.httpChildren.get(key, func() httpChild {
		route := unmatchedRoute
		if pattern != "" {
			route = m.routes.bound(pattern)
		}
		return httpChild{
			requests: m.httpRequests.WithLabelValues(route, key.method, strconv.Itoa(status)),
			duration: m.httpDuration.WithLabelValues(route, key.method),
		}
	})
}

// statusRecorder records the status a handler sends. Unwrap lets
// http.ResponseController reach the underlying writer's Flush, Hijack and
// deadline methods.
type statusRecorder struct {
	http.ResponseWriter
	status int // 0 until the final status is known
}

// WriteHeader records the first final status. Informational statuses
// other than 101 may precede it.
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write sends body bytes, which implies a 200 when no status was sent.
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client, which implies a 200 when no
// status was sent, for handlers that test for http.Flusher.
func (s *statusRecorder) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap returns the underlying ResponseWriter.
func (s *statusRecorder) Unwrap() http.ResponseWriter {
	return s.ResponseWriter
}

// finalStatus returns the status the client received: 200 when the handler
// sent nothing, as net/http does.
func (s *statusRecorder) finalStatus() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// Package metrics exposes what c2cauth does as Prometheus metrics: the HTTP
// requests it serves, the codes it issues and rejects, and its requests to
// Live Hub.
//
// A Metrics holds its own registry, never the global one, so that two
// servers in one process, or two tests, do not share counters. The program
// wires it in three places: Instrument around the whole request
// multiplexer, AuthCodeResult after each auth-code request, and Observer on
// the Live Hub client. Handler serves the result in the Prometheus text
// format.
//
// # Metrics
//
// Every name has the c2cauth_ prefix and its unit in the name:
//
//   - c2cauth_http_requests_total{route, method, status}: requests served,
//     by route pattern, method and response status. A 4xx on the auth-code
//     routes is a rejected visitor, and c2cauth_auth_code_rejections_total
//     shows why. A 5xx means Live Hub or a policy backend is failing.
//   - c2cauth_http_request_duration_seconds{route, method}: histogram of the
//     time to serve a request, from 5 ms to 10 s. The auth-code routes
//     include the wait for Live Hub.
//   - c2cauth_http_requests_in_flight: requests being served now. A value
//     that stays high means requests are stuck waiting, usually on Live Hub.
//   - c2cauth_auth_codes_issued_total{connection}: codes handed to visitors,
//     by configured connection name. Each can start a call the site pays for.
//   - c2cauth_auth_code_rejections_total{reason}: auth-code requests that got
//     an error, by the endpoint's error code, such as "rate_limited" or
//     "livehub_unavailable".
//   - c2cauth_livehub_request_duration_seconds{operation, status}: histogram
//     of requests to Live Hub, by operation ("token" or "generate") and HTTP
//     status, or "error" when no response arrived.
//   - c2cauth_livehub_token_fetches_total{result, kind}: access token
//     requests by result ("ok" or "error") and kind ("background" when
//     fetched ahead of expiry, "foreground" when a call waited for it).
//     Foreground fetches after start-up mean calls waited for a token,
//     because the old one expired or Live Hub rejected it.
//   - c2cauth_livehub_retries_total{operation}: requests to Live Hub sent
//     again after a 401, a 429, a 5xx or a network error. The status label
//     of c2cauth_livehub_request_duration_seconds tells which.
//   - c2cauth_livehub_token_store_events_total{operation, result}: with a
//     shared token store (--redis-url), tokens taken from the store
//     (operation "load", result "hit") and failed store calls (result
//     "error", by operation "load", "save", "invalidate" or "lock"). After
//     an error the replica requests its own token from Live Hub.
//
// The Go runtime (go_*) and process (process_*) collectors are registered
// too.
//
// Label values come only from bounded sets: route patterns registered on
// the multiplexer, standard method names (others count as "other"), status
// codes, configured connection names and error codes. The route, connection
// and reason labels also keep at most 100 distinct values each and record
// any further value as "other", so a caller that passes unexpected text
// cannot grow the metrics without bound. No label holds a request path, a
// user, a phone, a code or a token.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// OutcomeIssued is the outcome that AuthCodeResult counts as an issued code.
// Every other outcome is an error code of the auth-code endpoint.
const OutcomeIssued = "issued"

// durationBuckets are the histogram buckets, in seconds, for requests that
// may wait on a remote API: from 5 ms to 10 s, twice the default upstream
// timeout of the auth-code endpoint.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Metrics holds c2cauth's collectors and the registry they are registered
// in. Its methods are safe for concurrent use.
type Metrics struct {
	registry *prometheus.Registry
	handler  http.Handler
	now      func() time.Time

	httpRequests     *prometheus.CounterVec
	httpDuration     *prometheus.HistogramVec
	httpInFlight     prometheus.Gauge
	codesIssued      *prometheus.CounterVec
	rejections       *prometheus.CounterVec
	upstreamDuration *prometheus.HistogramVec
	tokenFetches     *prometheus.CounterVec
	retries          *prometheus.CounterVec
	tokenStore       *prometheus.CounterVec

	routes      *labelValues
	connections *labelValues
	reasons     *labelValues

	// Children of the vectors above on the per-request paths.
	httpChildren     children[httpKey, httpChild]
	issuedChildren   children[string, prometheus.Counter]
	rejectChildren   children[string, prometheus.Counter]
	upstreamChildren children[upstreamKey, prometheus.Observer]
}

// New returns a Metrics with its own registry, in which c2cauth's
// collectors and the Go runtime and process collectors are registered.
func New() *Metrics {
	m := &Metrics{
		registry:    prometheus.NewRegistry(),
		now:         time.Now,
		routes:      newLabelValues(),
		connections: newLabelValues(),
		reasons:     newLabelValues(),

		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "c2cauth_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and response status. A catch-all pattern such as \"/\" counts paths that match no other route; \"unmatched\" counts requests no pattern matched.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "c2cauth_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route pattern and method; the auth-code routes include the wait for Live Hub.",
			Buckets: durationBuckets,
		}, []string{"route", "method"}),
		httpInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "c2cauth_http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
		codesIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "c2cauth_auth_codes_issued_total",
			Help: "Authentication codes handed to visitors, by configured connection name; each can start one call.",
		}, []string{"connection"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "c2cauth_auth_code_rejections_total",
			Help: "Auth-code requests answered with an error, by the endpoint's error code, such as rate_limited.",
		}, []string{"reason"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "c2cauth_livehub_request_duration_seconds",
			Help:    "Duration of requests to Live Hub, by operation (token or generate) and HTTP status (\"error\" when no response arrived).",
			Buckets: durationBuckets,
		}, []string{"operation", "status"}),
		tokenFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "c2cauth_livehub_token_fetches_total",
			Help: "Live Hub access token requests, by result (ok or error) and kind (background when fetched ahead of expiry, foreground when a call waited).",
		}, []string{"result", "kind"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "c2cauth_livehub_retries_total",
			Help: "Requests to Live Hub sent again after a failed attempt, by operation.",
		}, []string{"operation"}),
		tokenStore: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "c2cauth_livehub_token_store_events_total",
			Help: "Shared token store events: tokens taken from the store (result hit) and failed store calls (result error), by operation.",
		}, []string{"operation", "result"}),
	}

	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests,
		m.httpDuration,
		m.httpInFlight,
		m.codesIssued,
		m.rejections,
		m.upstreamDuration,
		m.tokenFetches,
		m.retries,
		m.tokenStore,
	)

	// Series that exist from the start read as 0 rather than missing, so
	// that rate() and alerts work before the first event.
	for _, result := range []string{resultOK, resultError} {
		for _, kind := range []string{kindBackground, kindForeground} {
			m.tokenFetches.WithLabelValues(result, kind)
		}
	}
	m.retries.WithLabelValues(operationGenerate)

	m.handler = promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		// A collector that fails leaves its own metrics out rather than
		// turning the whole scrape into an error.
		ErrorHandling: promhttp.ContinueOnError,
		// Registers promhttp_metric_handler_errors_total, which counts
		// such failures.
		Registry:        m.registry,
		AcceptedFormats: []expfmt.Format{expfmt.NewFormat(expfmt.TypeTextPlain)},
	})
	return m
}

// Registry returns the registry that holds the metrics, for registering
// more collectors or gathering in tests.
func (m *Metrics) Registry() *prometheus.Registry {
	return m.registry
}

// Handler returns the handler that serves the registry's metrics in the
// Prometheus text format, whatever format the scraper requests in Accept.
// It is meant for GET /metrics.
func (m *Metrics) Handler() http.Handler {
	return m.handler
}

// AuthCodeResult counts the outcome of one auth-code request: OutcomeIssued
// counts a code issued for connection, and any other outcome, which is the
// endpoint's error code such as "rate_limited", counts a rejection with that
// reason. connection must be a configured connection name, never text from
// the request, and only issued codes record it.
func (m *Metrics) AuthCodeResult(connection, outcome string) {
	if outcome == OutcomeIssued {
		boundedChild(&m.issuedChildren, m.codesIssued, m.connections, connection).Inc()
		return
	}
	boundedChild(&m.rejectChildren, m.rejections, m.reasons, outcome).Inc()
}

// boundedChild returns the child of vec, a vector with one label, for value
// as values bounds it. Only values that bounding keeps are cached, so the
// cache holds at most maxLabelValues children.
func boundedChild(cache *children[string, prometheus.Counter], vec *prometheus.CounterVec, values *labelValues, value string) prometheus.Counter {
	if c, ok := cache.load(value); ok {
		return c
	}
	label := values.bound(value)
	if label != value {
		return vec.WithLabelValues(label)
	}
	return cache.get(value, func() prometheus.Counter { return vec.WithLabelValues(label) })
}

package metrics_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/c2cauth/c2cauth/metrics"
)

// newMux returns a mux with routes shaped like the backend's.
func newMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/auth-code/{connection}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("connection") != "default" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Write([]byte(`{"authenticationCode":"LHv1_x"}`))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	// A handler that writes nothing sends 200.
	mux.HandleFunc("/quiet", func(w http.ResponseWriter, r *http.Request) {})
	return mux
}

func TestServeMuxSetsPatternOnRequest(t *testing.T) {
	mux := newMux()
	var got string
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		got = r.Pattern
	})

	r := httptest.NewRequest(http.MethodPost, "/v1/auth-code/sales", nil)
	handler.ServeHTTP(httptest.NewRecorder(), r)

	if want := "/v1/auth-code/{connection}"; got != want {
		t.Errorf("r.Pattern after ServeHTTP: got %q, want %q", got, want)
	}
}

func TestInstrumentCountsRouteAndStatus(t *testing.T) {
	m := metrics.New()
	srv := newServer(t, m.Instrument(newMux()))

	requests := []struct {
		method, path string
		times        int
		wantStatus   int
	}{
		{http.MethodPost, "/v1/auth-code/default", 3, http.StatusOK},
		{http.MethodPost, "/v1/auth-code/nope", 2, http.StatusNotFound},
		{http.MethodGet, "/healthz", 1, http.StatusOK},
		{http.MethodPost, "/healthz", 1, http.StatusMethodNotAllowed},
		{http.MethodGet, "/missing", 2, http.StatusNotFound},
		{http.MethodGet, "/quiet", 1, http.StatusOK},
		{http.MethodGet, "/static", 1, http.StatusTemporaryRedirect},
	}
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, req := range requests {
		for range req.times {
			if got := send(t, client, req.method, srv.URL+req.path); got != req.wantStatus {
				t.Fatalf("%s %s: got status %d, want %d", req.method, req.path, got, req.wantStatus)
			}
		}
	}

	tests := []struct {
		route, method, status string
		want                  float64
	}{
		{"/v1/auth-code/{connection}", "POST", "200", 3},
		{"/v1/auth-code/{connection}", "POST", "404", 2},
		{"GET /healthz", "GET", "200", 1},
		{"unmatched", "POST", "405", 1},
		{"unmatched", "GET", "404", 2},
		{"/quiet", "GET", "200", 1},
		// The mux redirects /static to /static/ and labels the redirect
		// with the pattern it would match.
		{"GET /static/", "GET", "307", 1},
	}
	for _, tt := range tests {
		t.Run(tt.route+" "+tt.method+" "+tt.status, func(t *testing.T) {
			labels := map[string]string{"route": tt.route, "method": tt.method, "status": tt.status}
			if got := sample(t, m.Registry(), "c2cauth_http_requests_total", labels); got != tt.want {
				t.Errorf("c2cauth_http_requests_total%v: got %v, want %v", labels, got, tt.want)
			}
		})
	}

	series, err := testutil.GatherAndCount(m.Registry(), "c2cauth_http_requests_total")
	if err != nil {
		t.Fatalf("count series: %v", err)
	}
	if series != len(tests) {
		t.Errorf("c2cauth_http_requests_total series: got %d, want %d", series, len(tests))
	}

	labels := map[string]string{"route": "/v1/auth-code/{connection}", "method": "POST"}
	if got := histogramCount(t, m.Registry(), "c2cauth_http_request_duration_seconds", labels); got != 5 {
		t.Errorf("c2cauth_http_request_duration_seconds%v count: got %d, want 5", labels, got)
	}
}

func TestInstrumentInFlight(t *testing.T) {
	m := metrics.New()
	entered := make(chan struct{})
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	srv := newServer(t, m.Instrument(mux))

	const concurrent = 3
	var wg sync.WaitGroup
	for range concurrent {
		wg.Go(func() {
			resp, err := srv.Client().Get(srv.URL + "/slow")
			if err != nil {
				t.Errorf("GET /slow: %v", err)
				return
			}
			resp.Body.Close()
		})
	}
	for range concurrent {
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("requests did not reach the handler within 10s")
		}
	}

	if got := sample(t, m.Registry(), "c2cauth_http_requests_in_flight", map[string]string{}); got != concurrent {
		t.Errorf("in flight while blocked: got %v, want %d", got, concurrent)
	}
	close(release)
	wg.Wait()
	if got := sample(t, m.Registry(), "c2cauth_http_requests_in_flight", map[string]string{}); got != 0 {
		t.Errorf("in flight after the requests ended: got %v, want 0", got)
	}
}

func TestInstrumentBoundsLabelsOfRandomRequests(t *testing.T) {
	m := metrics.New()
	srv := newServer(t, m.Instrument(newMux()))
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	rng := rand.New(rand.NewPCG(1, 2))
	prefixes := []string{"/", "/v1/auth-code/", "/static/", "/healthz/", "/quiet/"}
	methods := []string{"GET", "POST", "DELETE", "PURGE", "X-RANDOM"}
	var sent []string
	for i := range 1000 {
		token := fmt.Sprintf("r%dx%08x", i, rng.Uint32())
		path := prefixes[rng.IntN(len(prefixes))] + token
		method := methods[rng.IntN(len(methods))]
		if i%7 == 0 {
			method = fmt.Sprintf("M%d", i) // a method no one registered
		}
		send(t, client, method, srv.URL+path)
		sent = append(sent, token)
	}

	series, err := testutil.GatherAndCount(m.Registry(), "c2cauth_http_requests_total")
	if err != nil {
		t.Fatalf("count series: %v", err)
	}
	// At most 4 routes × 6 methods × a few statuses; far below 1000.
	if series > 40 {
		t.Errorf("c2cauth_http_requests_total series after 1000 random requests: got %d, want at most 40", series)
	}

	routes := labelValuesOf(t, m.Registry(), "c2cauth_http_requests_total", "route")
	allowedRoutes := []string{"/v1/auth-code/{connection}", "GET /static/", "GET /healthz", "/quiet", "unmatched"}
	for _, route := range routes {
		if !slices.Contains(allowedRoutes, route) {
			t.Errorf("route label %q is not a registered pattern or %q", route, "unmatched")
		}
	}
	methodLabels := labelValuesOf(t, m.Registry(), "c2cauth_http_requests_total", "method")
	for _, method := range methodLabels {
		if !slices.Contains([]string{"GET", "POST", "DELETE", "other"}, method) {
			t.Errorf("method label %q is neither a standard method nor %q", method, "other")
		}
	}

	text, err := testutil.CollectAndFormat(m.Registry(), expfmt.TypeTextPlain, "c2cauth_http_requests_total", "c2cauth_http_request_duration_seconds")
	if err != nil {
		t.Fatalf("format metrics: %v", err)
	}
	for _, token := range sent {
		if strings.Contains(string(text), token) {
			t.Fatalf("metrics contain the request path segment %q", token)
		}
	}
}

func TestInstrumentKeepsFlush(t *testing.T) {
	m := metrics.New()
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through Instrument: %v", err)
		}
		if _, ok := w.(http.Flusher); !ok {
			t.Error("ResponseWriter through Instrument is not an http.Flusher")
		}
	})
	srv := newServer(t, m.Instrument(mux))

	if got := send(t, srv.Client(), http.MethodGet, srv.URL+"/stream"); got != http.StatusOK {
		t.Fatalf("GET /stream: got status %d, want 200", got)
	}
	labels := map[string]string{"route": "/stream", "method": "GET", "status": "200"}
	if got := sample(t, m.Registry(), "c2cauth_http_requests_total", labels); got != 1 {
		t.Errorf("c2cauth_http_requests_total%v: got %v, want 1", labels, got)
	}
}

package metrics_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/c2cauth/c2cauth/livehub"
	"github.com/c2cauth/c2cauth/metrics"
)

func TestAuthCodeResult(t *testing.T) {
	m := metrics.New()
	results := []struct {
		connection, outcome string
		times               int
	}{
		{"default", metrics.OutcomeIssued, 3},
		{"sales", metrics.OutcomeIssued, 1},
		{"default", "rate_limited", 2},
		{"unknown", "unknown_connection", 1},
		{"default", "livehub_unavailable", 1},
	}
	for _, r := range results {
		for range r.times {
			m.AuthCodeResult(r.connection, r.outcome)
		}
	}

	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"c2cauth_auth_codes_issued_total", map[string]string{"connection": "default"}, 3},
		{"c2cauth_auth_codes_issued_total", map[string]string{"connection": "sales"}, 1},
		{"c2cauth_auth_code_rejections_total", map[string]string{"reason": "rate_limited"}, 2},
		{"c2cauth_auth_code_rejections_total", map[string]string{"reason": "unknown_connection"}, 1},
		{"c2cauth_auth_code_rejections_total", map[string]string{"reason": "livehub_unavailable"}, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.name, tt.labels), func(t *testing.T) {
			if got := sample(t, m.Registry(), tt.name, tt.labels); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	// Rejections carry no connection, and issued codes no reason.
	if got := testutil.CollectAndCount(m.Registry(), "c2cauth_auth_codes_issued_total"); got != 2 {
		t.Errorf("c2cauth_auth_codes_issued_total series: got %d, want 2", got)
	}
	if got := testutil.CollectAndCount(m.Registry(), "c2cauth_auth_code_rejections_total"); got != 3 {
		t.Errorf("c2cauth_auth_code_rejections_total series: got %d, want 3", got)
	}
}

func TestAuthCodeResultBoundsValues(t *testing.T) {
	m := metrics.New()
	for i := range 1000 {
		m.AuthCodeResult(fmt.Sprintf("connection-%d", i), metrics.OutcomeIssued)
		m.AuthCodeResult("default", fmt.Sprintf("reason_%d", i))
	}
	// Malformed values must neither panic nor appear.
	for _, bad := range []string{"", "\xff\xfe", "line\nbreak", strings.Repeat("x", 1000)} {
		m.AuthCodeResult(bad, metrics.OutcomeIssued)
		m.AuthCodeResult("default", bad)
	}

	for _, name := range []string{"c2cauth_auth_codes_issued_total", "c2cauth_auth_code_rejections_total"} {
		// 100 distinct values and "other".
		if got := testutil.CollectAndCount(m.Registry(), name); got != 101 {
			t.Errorf("%s series: got %d, want 101", name, got)
		}
	}
	if got := sample(t, m.Registry(), "c2cauth_auth_codes_issued_total", map[string]string{"connection": "other"}); got != 904 {
		t.Errorf("issued codes counted as other: got %v, want 904", got)
	}
	if got := sample(t, m.Registry(), "c2cauth_auth_codes_issued_total", map[string]string{"connection": "connection-0"}); got != 1 {
		t.Errorf("issued codes of the first connection: got %v, want 1", got)
	}
}

func TestHandlerServesTextFormat(t *testing.T) {
	m := metrics.New()
	m.AuthCodeResult("default", metrics.OutcomeIssued)
	srv := newServer(t, m.Handler())

	// A scraper that prefers protobuf still gets text.
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read metrics: %v", err)
	}

	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: got %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type: got %q, want text/plain; version=0.0.4", got)
	}
	text := string(body)
	for _, want := range []string{
		"# HELP c2cauth_http_requests_in_flight ",
		"# TYPE c2cauth_http_requests_in_flight gauge",
		"# TYPE c2cauth_livehub_token_fetches_total counter",
		`c2cauth_auth_codes_issued_total{connection="default"} 1`,
		`c2cauth_livehub_token_fetches_total{kind="background",result="ok"} 0`,
		`c2cauth_livehub_retries_total{operation="generate"} 0`,
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics text does not contain %q", want)
		}
	}
}

func TestEveryMetricHasHelp(t *testing.T) {
	m := metrics.New()
	// Make every vector export a series, so that Gather lists it.
	m.Instrument(http.NotFoundHandler()).ServeHTTP(discard{}, mustRequest(t))
	m.AuthCodeResult("default", metrics.OutcomeIssued)
	m.AuthCodeResult("default", "rate_limited")
	obs := m.Observer()
	obs.Upstream(t.Context(), upstreamEvent("token", 200))
	obs.TokenStore(t.Context(), livehub.TokenStoreEvent{Op: livehub.StoreLoad})

	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var names []string
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "c2cauth_") {
			continue
		}
		names = append(names, f.GetName())
		if len(f.GetHelp()) < 20 {
			t.Errorf("%s: help %q is too short to explain the metric", f.GetName(), f.GetHelp())
		}
	}
	if len(names) != 9 {
		t.Errorf("c2cauth metrics: got %d (%v), want 9", len(names), names)
	}
}

// discard is a ResponseWriter that drops the response.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

func mustRequest(t *testing.T) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

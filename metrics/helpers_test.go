package metrics_test

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// sample returns the value of the counter or gauge name whose labels are
// exactly labels, or 0 when there is no such series.
func sample(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	m := find(t, g, name, labels)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("metric %s%v is neither a counter nor a gauge", name, labels)
	return 0
}

// histogramCount returns the number of observations of the histogram name
// whose labels are exactly labels, or 0 when there is no such series.
func histogramCount(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) uint64 {
	t.Helper()
	m := find(t, g, name, labels)
	if m == nil {
		return 0
	}
	if m.Histogram == nil {
		t.Fatalf("metric %s%v is not a histogram", name, labels)
	}
	return m.Histogram.GetSampleCount()
}

// find returns the series of name with exactly labels, or nil.
func find(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	for _, series := range gatherSeries(t, g, name) {
		if maps.Equal(labelMap(series), labels) {
			return series
		}
	}
	return nil
}

// gatherSeries returns every series of the metric name.
func gatherSeries(t *testing.T, g prometheus.Gatherer, name string) []*dto.Metric {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()
		}
	}
	return nil
}

// labelValuesOf returns the sorted distinct values of label across the
// series of name.
func labelValuesOf(t *testing.T, g prometheus.Gatherer, name, label string) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, series := range gatherSeries(t, g, name) {
		seen[labelMap(series)[label]] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

func labelMap(m *dto.Metric) map[string]string {
	labels := make(map[string]string, len(m.GetLabel()))
	for _, pair := range m.GetLabel() {
		labels[pair.GetName()] = pair.GetValue()
	}
	return labels
}

// send makes a request with method to url and returns the status. It fails
// the test on a transport error.
func send(t *testing.T, client *http.Client, method, url string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(""))
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// newServer starts handler on 127.0.0.1 and closes it when the test ends.
func newServer(t *testing.T, handler http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	srv.Client().Timeout = 10 * time.Second
	return srv
}

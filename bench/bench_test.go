package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
	"github.com/c2cauth/c2cauth/livehub"
)

var codeBody = regexp.MustCompile(`^\{"authenticationCode":"LHv1_[0-9a-f]{32}"\}$`)

// newBaselineServer starts the baseline in front of a new emulator.
func newBaselineServer(t *testing.T, sipConnection string) (*httptest.Server, *emulatortest.Server) {
	t.Helper()
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	client := &livehub.Client{BaseURL: em.URL, ClientID: em.ClientID, ClientSecret: em.ClientSecret}
	t.Cleanup(client.CloseIdleConnections)
	if sipConnection == "" {
		sipConnection = em.SIPConnection
	}
	srv := httptest.NewServer(newBaselineMux(client, sipConnection))
	t.Cleanup(srv.Close)
	return srv, em
}

func post(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestBaselineIssuesCodes(t *testing.T) {
	srv, em := newBaselineServer(t, "")
	for range 3 {
		resp, body := post(t, srv.URL+"/v1/auth-code")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("got status %d, want 200; body %s", resp.StatusCode, body)
		}
		if !codeBody.MatchString(body) {
			t.Errorf("got body %s, want one authenticationCode", body)
		}
		if got := resp.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("got Content-Type %q, want application/json", got)
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("got Cache-Control %q, want no-store", got)
		}
	}
	if got := em.Emulator.Stats().TokenRequests; got != 1 {
		t.Errorf("got %d token requests, want 1", got)
	}
}

func TestBaselineRejectsGet(t *testing.T) {
	srv, _ := newBaselineServer(t, "")
	resp, err := http.Get(srv.URL + "/v1/auth-code")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("got status %d, want 405", resp.StatusCode)
	}
}

func TestBaselineLiveHubError(t *testing.T) {
	srv, _ := newBaselineServer(t, "00000000-0000-4000-8000-000000000000")
	resp, body := post(t, srv.URL+"/v1/auth-code")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("got status %d, want 502", resp.StatusCode)
	}
	if !strings.Contains(body, `"error":"livehub_unavailable"`) {
		t.Errorf("got body %s, want a JSON error", body)
	}
}

func TestScrapeGoroutines(t *testing.T) {
	srv, _ := newBaselineServer(t, "")
	n, size, err := scrapeGoroutines(context.Background(), srv.URL+goroutinesPath)
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 || size <= 0 {
		t.Errorf("got %d goroutines in %d bytes, want both positive", n, size)
	}
	if _, _, err := scrapeGoroutines(context.Background(), srv.URL+"/metrics"); err == nil {
		t.Error("got no error for a missing page, want one")
	}
}

// lineWriter passes each line written to it to a channel.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(p), nil
		}
		w.lines <- line
	}
}

func TestBaselineCommand(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	getenv := func(name string) string {
		if name == "LIVEHUB_CLIENT_SECRET" {
			return em.ClientSecret
		}
		return ""
	}
	stdout := &lineWriter{lines: make(chan string, 4)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		args := []string{baselineCommand, "--listen", "127.0.0.1:0", "--livehub-url", em.URL, "--client-id", em.ClientID, "--sip-connection", em.SIPConnection}
		done <- run(ctx, args, getenv, stdout, io.Discard)
	}()

	var url string
	select {
	case line := <-stdout.lines:
		m := listeningPattern.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("got line %q, want the URL", line)
		}
		url = m[1]
	case err := <-done:
		t.Fatalf("baseline exited before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("baseline printed no URL within 10s")
	}
	if resp, body := post(t, url+"/v1/auth-code"); resp.StatusCode != http.StatusOK {
		t.Errorf("got status %d, want 200; body %s", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("got error %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("baseline did not stop within 10s of cancel")
	}
}

func TestBaselineCommandNeedsOptions(t *testing.T) {
	err := run(context.Background(), []string{baselineCommand}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("got nil error without options, want one")
	}
}

func TestAttack(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantOK   bool
		wantKind string
	}{
		{"code", http.StatusOK, `{"authenticationCode":"LHv1_0123"}`, true, ""},
		{"error status", http.StatusServiceUnavailable, `{"error":"livehub_unavailable"}`, false, "status 503"},
		{"no code", http.StatusOK, `{}`, false, "no code in the response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()

			tgt := target{name: "test", url: srv.URL, header: browserHeader("token"), body: []byte("{}")}
			res, err := attack(context.Background(), tgt, attackSpec{rate: 100, workers: 2, duration: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if res.sent < 10 || res.sent > 30 {
				t.Errorf("got %d requests sent, want about 20", res.sent)
			}
			if len(res.latencies) != res.sent {
				t.Errorf("got %d latencies for %d requests", len(res.latencies), res.sent)
			}
			if tt.wantOK && res.ok != res.sent {
				t.Errorf("got %d codes for %d requests, want all", res.ok, res.sent)
			}
			if !tt.wantOK && (res.ok != 0 || res.failures[tt.wantKind] != res.sent) {
				t.Errorf("got %d codes and failures %v, want %d × %q", res.ok, res.failures, res.sent, tt.wantKind)
			}
		})
	}
}

func TestPercentiles(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var hundred []time.Duration
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, ms(i))
	}
	tests := []struct {
		name    string
		samples []time.Duration
		q       []float64
		want    []time.Duration
	}{
		{"one sample", []time.Duration{ms(5)}, []float64{0.5, 0.999}, []time.Duration{ms(5), ms(5)}},
		{"hundred", hundred, []float64{0.5, 0.99, 0.999, 1}, []time.Duration{ms(50), ms(99), ms(100), ms(100)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := percentiles(tt.samples, tt.q...)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("q %g: got %s, want %s", tt.q[i], got[i], tt.want[i])
				}
			}
		})
	}
	if _, err := percentiles(nil, 0.5); err == nil {
		t.Error("got nil error for no samples, want one")
	}
}

func TestLatencyGoal(t *testing.T) {
	run := func(name string, achieved int, latency time.Duration) runResult {
		res := runResult{target: name, rate: goalP99Rate, sent: achieved, ok: achieved, elapsed: time.Second, peakInFlight: 4}
		for range achieved {
			res.latencies = append(res.latencies, latency)
		}
		return res
	}
	tests := []struct {
		name string
		runs []runResult
		want string
	}{
		{"small overhead", []runResult{run(nameBaseline, 2000, time.Millisecond), run(nameC2cauth, 2000, 1500*time.Microsecond)}, resultMet},
		{"large overhead", []runResult{run(nameBaseline, 2000, time.Millisecond), run(nameC2cauth, 2000, 3*time.Millisecond)}, resultNotMet},
		{"c2cauth behind", []runResult{run(nameBaseline, 2000, time.Millisecond), run(nameC2cauth, 1500, time.Millisecond)}, resultNotMet},
		{"baseline behind", []runResult{run(nameBaseline, 1500, time.Millisecond), run(nameC2cauth, 2000, time.Millisecond)}, resultInconclusive},
		{"not run", nil, resultInconclusive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &report{runs: tt.runs}
			if got := r.latencyGoal(); got.result != tt.want {
				t.Errorf("got %s (%s), want %s", got.result, got.measured, tt.want)
			}
		})
	}
}

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"rates", []string{"-rates", "100, 300"}, ""},
		{"no rounds", []string{"-rounds", "0"}, "-rounds 0"},
		{"bad rate", []string{"-rates", "fast"}, `rate "fast"`},
		{"too long", []string{"-duration", "1m", "-timeout", "1m"}, "more than -timeout"},
		{"argument", []string{"extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSettings(tt.args, io.Discard)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got error %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefaultsFitTimeout(t *testing.T) {
	s, err := parseSettings(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// The build and start-up take the rest of the time.
	if budget := 4 * time.Minute; s.estimate() > budget {
		t.Errorf("got an estimate of %s for the defaults, want at most %s", s.estimate(), budget)
	}
}

func TestProcessReadings(t *testing.T) {
	pid := os.Getpid()
	rss, err := peakRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 {
		t.Errorf("got peak RSS %d, want positive", rss)
	}
	sample, err := readCPU([]int{pid})
	if err != nil {
		t.Fatal(err)
	}
	if sample.machine < sample.processes[0] {
		t.Errorf("got machine CPU %s below this process's %s", sample.machine, sample.processes[0])
	}
}

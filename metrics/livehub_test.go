package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
	"github.com/c2cauth/c2cauth/livehub"
	"github.com/c2cauth/c2cauth/metrics"
)

func upstreamEvent(op string, status int) livehub.UpstreamEvent {
	return livehub.UpstreamEvent{Op: op, StatusCode: status, Duration: 30 * time.Millisecond}
}

func TestObserverCountsClientEvents(t *testing.T) {
	srv := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(srv.Close)
	m := metrics.New()
	client := &livehub.Client{
		BaseURL:      srv.URL,
		ClientID:     srv.ClientID,
		ClientSecret: srv.ClientSecret,
		Observer:     m.Observer(),
		Random:       func() float64 { return 0 }, // retry at once
	}
	t.Cleanup(client.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	// One token request, then one generate request.
	if _, err := client.GenerateAuthenticationCode(ctx, srv.SIPConnection, ""); err != nil {
		t.Fatalf("first code: %v", err)
	}
	// One failed generate request, a retry and a successful one.
	if err := srv.Emulator.AddFault(emulator.Fault{Endpoint: "generate", Status: 500, Count: 1}); err != nil {
		t.Fatalf("add fault: %v", err)
	}
	if _, err := client.GenerateAuthenticationCode(ctx, srv.SIPConnection, ""); err != nil {
		t.Fatalf("code after one 500: %v", err)
	}

	reg := m.Registry()
	histograms := []struct {
		operation, status string
		want              uint64
	}{
		{"token", "200", 1},
		{"generate", "200", 2},
		{"generate", "500", 1},
	}
	for _, tt := range histograms {
		labels := map[string]string{"operation": tt.operation, "status": tt.status}
		if got := histogramCount(t, reg, "c2cauth_livehub_request_duration_seconds", labels); got != tt.want {
			t.Errorf("c2cauth_livehub_request_duration_seconds%v count: got %d, want %d", labels, got, tt.want)
		}
	}
	counters := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"c2cauth_livehub_token_fetches_total", map[string]string{"result": "ok", "kind": "foreground"}, 1},
		{"c2cauth_livehub_token_fetches_total", map[string]string{"result": "error", "kind": "foreground"}, 0},
		{"c2cauth_livehub_retries_total", map[string]string{"operation": "generate"}, 1},
	}
	for _, tt := range counters {
		if got := sample(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v: got %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
}

func TestObserverLabels(t *testing.T) {
	m := metrics.New()
	obs := m.Observer()
	ctx := t.Context()

	obs.Upstream(ctx, livehub.UpstreamEvent{Op: "token", StatusCode: 0, Err: errors.New("dial tcp: connection refused")})
	obs.Upstream(ctx, upstreamEvent("generate", 503))
	obs.Upstream(ctx, upstreamEvent("something-else", 200))
	obs.Upstream(ctx, upstreamEvent("generate", 1234))
	obs.TokenFetch(ctx, livehub.TokenFetchEvent{Background: true})
	obs.TokenFetch(ctx, livehub.TokenFetchEvent{Background: true, Err: errors.New("token request failed")})
	obs.TokenFetch(ctx, livehub.TokenFetchEvent{Err: errors.New("token request failed")})
	obs.Retry(ctx, livehub.RetryEvent{Op: "generate", Attempt: 2})
	obs.Retry(ctx, livehub.RetryEvent{Op: "generate", Attempt: 3})
	obs.TokenStore(ctx, livehub.TokenStoreEvent{Op: livehub.StoreLoad})
	obs.TokenStore(ctx, livehub.TokenStoreEvent{Op: livehub.StoreLock, Err: errors.New("redis: connection refused")})
	obs.TokenStore(ctx, livehub.TokenStoreEvent{Op: "compact", Err: errors.New("unknown operation")})

	reg := m.Registry()
	histograms := []map[string]string{
		{"operation": "token", "status": "error"},
		{"operation": "generate", "status": "503"},
		{"operation": "other", "status": "200"},
		{"operation": "generate", "status": "other"},
	}
	for _, labels := range histograms {
		if got := histogramCount(t, reg, "c2cauth_livehub_request_duration_seconds", labels); got != 1 {
			t.Errorf("c2cauth_livehub_request_duration_seconds%v count: got %d, want 1", labels, got)
		}
	}
	counters := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"c2cauth_livehub_token_fetches_total", map[string]string{"result": "ok", "kind": "background"}, 1},
		{"c2cauth_livehub_token_fetches_total", map[string]string{"result": "error", "kind": "background"}, 1},
		{"c2cauth_livehub_token_fetches_total", map[string]string{"result": "error", "kind": "foreground"}, 1},
		{"c2cauth_livehub_token_fetches_total", map[string]string{"result": "ok", "kind": "foreground"}, 0},
		{"c2cauth_livehub_retries_total", map[string]string{"operation": "generate"}, 2},
		{"c2cauth_livehub_token_store_events_total", map[string]string{"operation": "load", "result": "hit"}, 1},
		{"c2cauth_livehub_token_store_events_total", map[string]string{"operation": "lock", "result": "error"}, 1},
		{"c2cauth_livehub_token_store_events_total", map[string]string{"operation": "other", "result": "error"}, 1},
	}
	for _, tt := range counters {
		if got := sample(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v: got %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
}

func TestChainObservers(t *testing.T) {
	var calls []string
	record := func(name string) *livehub.Observer {
		return &livehub.Observer{
			Retry:      func(context.Context, livehub.RetryEvent) { calls = append(calls, name+" retry") },
			TokenFetch: func(context.Context, livehub.TokenFetchEvent) { calls = append(calls, name+" token") },
			Upstream:   func(context.Context, livehub.UpstreamEvent) { calls = append(calls, name+" upstream") },
		}
	}
	onlyRetry := &livehub.Observer{Retry: func(context.Context, livehub.RetryEvent) { calls = append(calls, "third retry") }}

	chained := metrics.ChainObservers(record("first"), nil, record("second"), onlyRetry)
	ctx := t.Context()
	chained.Retry(ctx, livehub.RetryEvent{})
	chained.TokenFetch(ctx, livehub.TokenFetchEvent{})
	chained.Upstream(ctx, livehub.UpstreamEvent{})

	want := []string{
		"first retry", "second retry", "third retry",
		"first token", "second token",
		"first upstream", "second upstream",
	}
	if !slices.Equal(calls, want) {
		t.Errorf("calls: got %q, want %q", calls, want)
	}
}

func TestChainObserversLeavesMissingCallbacksNil(t *testing.T) {
	chained := metrics.ChainObservers(nil, &livehub.Observer{})
	if chained == nil {
		t.Fatal("ChainObservers returned nil, want an Observer")
	}
	if chained.Retry != nil || chained.TokenFetch != nil || chained.Upstream != nil {
		t.Error("callbacks of a chain without callbacks: got non-nil, want nil")
	}
}

func TestChainObserversFeedsMetrics(t *testing.T) {
	m := metrics.New()
	var logged int
	logging := &livehub.Observer{Upstream: func(context.Context, livehub.UpstreamEvent) { logged++ }}

	chained := metrics.ChainObservers(logging, m.Observer())
	chained.Upstream(t.Context(), upstreamEvent("generate", 200))

	if logged != 1 {
		t.Errorf("logging callback calls: got %d, want 1", logged)
	}
	labels := map[string]string{"operation": "generate", "status": "200"}
	if got := histogramCount(t, m.Registry(), "c2cauth_livehub_request_duration_seconds", labels); got != 1 {
		t.Errorf("c2cauth_livehub_request_duration_seconds%v count: got %d, want 1", labels, got)
	}
}

// TestChainObserversChainsEveryField sets every callback field of two
// observers, so that a callback added to livehub.Observer is covered too.
func TestChainObserversChainsEveryField(t *testing.T) {
	calls := map[string]int{}
	observers := []*livehub.Observer{{}, {}}
	for n, o := range observers {
		fields := reflect.ValueOf(o).Elem()
		for i := range fields.NumField() {
			name := fields.Type().Field(i).Name
			if fields.Field(i).Kind() != reflect.Func {
				continue
			}
			key := fmt.Sprintf("%s %d", name, n)
			fields.Field(i).Set(reflect.MakeFunc(fields.Field(i).Type(), func([]reflect.Value) []reflect.Value {
				calls[key]++
				return nil
			}))
		}
	}

	chained := metrics.ChainObservers(observers...)
	fields := reflect.ValueOf(chained).Elem()
	var names []string
	for i := range fields.NumField() {
		field := fields.Field(i)
		if field.Kind() != reflect.Func {
			continue
		}
		name := fields.Type().Field(i).Name
		names = append(names, name)
		if field.IsNil() {
			t.Errorf("%s: chained callback is nil, want one that calls both observers", name)
			continue
		}
		args := make([]reflect.Value, field.Type().NumIn())
		for j := range args {
			args[j] = reflect.Zero(field.Type().In(j))
		}
		args[0] = reflect.ValueOf(t.Context())
		field.Call(args)
	}

	for _, name := range names {
		for n := range observers {
			key := fmt.Sprintf("%s %d", name, n)
			if calls[key] != 1 {
				t.Errorf("%s of observer %d: got %d calls, want 1", name, n, calls[key])
			}
		}
	}
}

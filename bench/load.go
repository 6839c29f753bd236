package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Load generator bounds.
const (
	requestTimeout = 10 * time.Second
	// maxOpenLoopWorkers bounds the workers vegeta may add to hold a fixed
	// rate when responses are slow, and so the requests in flight.
	maxOpenLoopWorkers = 256
	// maxFailureKinds bounds the distinct failure descriptions kept per run.
	maxFailureKinds = 8
)

// codeMarker is the prefix of every success body.
var codeMarker = []byte(`{"authenticationCode":"`)

// target is an endpoint that an attack sends its requests to, and the
// processes whose CPU time it accounts for.
type target struct {
	name   string
	url    string
	header http.Header
	body   []byte
	// pid is the process that serves the endpoint, or 0 for this one.
	pid int
	// others are the benchmark's other processes, whose CPU time does not
	// count as noise.
	others []int
}

// browserHeader returns the header that a browser on the site's page sends
// with the visitor's bearer token. Both backends receive it, and the
// baseline ignores it.
func browserHeader(token string) http.Header {
	return http.Header{
		"Content-Type":   {"application/json"},
		"Origin":         {siteOrigin},
		"Sec-Fetch-Site": {"cross-site"},
		"Authorization":  {"Bearer " + token},
	}
}

// runResult is the outcome of one attack on one target.
type runResult struct {
	target   string
	rate     int           // requests a second; 0 for a closed-loop run
	elapsed  time.Duration // from the first request sent to the last response
	sent     int
	ok       int            // 200 responses with a code
	failures map[string]int // by status or error, at most maxFailureKinds
	// latencies holds every request's latency, successful or not, in
	// fixed-rate runs, and is nil in closed-loop runs.
	latencies []time.Duration
	// cpu is the backend process's CPU time during the run, and zero for
	// the emulator alone.
	cpu time.Duration
	// benchCPU is the CPU time of this process, the load generator and the
	// emulators, during the run.
	benchCPU time.Duration
	// peakInFlight is the largest number of requests in flight at once.
	peakInFlight int64
	// otherCPU is the CPU time that processes outside the benchmark used
	// during the run: the noise of a shared machine.
	otherCPU time.Duration
}

// stackCPUPerRequest returns the CPU time per successful response of the
// backend, the load generator and the emulator together.
func (r runResult) stackCPUPerRequest() time.Duration {
	if r.ok == 0 {
		return 0
	}
	return (r.cpu + r.benchCPU) / time.Duration(r.ok)
}

// held reports whether the run kept to its fixed rate. Nearly every request
// must get its response within the run, and the requests in flight must
// stay below their bound.
func (r runResult) held() bool {
	return r.rate > 0 && r.throughput() >= 0.98*float64(r.rate) && r.peakInFlight < maxOpenLoopWorkers
}

// otherCores returns the mean number of cores that other processes kept
// busy during the run.
func (r runResult) otherCores() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return r.otherCPU.Seconds() / r.elapsed.Seconds()
}

// throughput returns successful responses a second.
func (r runResult) throughput() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// cpuPerRequest returns the backend's CPU time per successful response.
func (r runResult) cpuPerRequest() time.Duration {
	if r.ok == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.ok)
}

// attackSpec describes one attack: a fixed rate for a duration, or a
// closed loop with rate 0. In a closed loop each worker sends its next
// request as soon as the response to its last one arrives.
type attackSpec struct {
	rate     int
	workers  int
	duration time.Duration
}

// attack runs one attack on t and measures it. Cancelling ctx ends the
// attack early.
func attack(ctx context.Context, t target, spec attackSpec) (runResult, error) {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: maxOpenLoopWorkers,
		DisableCompression:  true,
	}
	// Closing the idle connections after the run lets the backend's
	// goroutine count settle before it is read.
	defer transport.CloseIdleConnections()
	counter := &inFlightCounter{next: transport}
	client := &http.Client{
		Transport:     counter,
		Timeout:       requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	options := []func(*vegeta.Attacker){vegeta.Client(client), vegeta.Workers(uint64(spec.workers))}
	if spec.rate == 0 {
		options = append(options, vegeta.MaxWorkers(uint64(spec.workers)))
	} else {
		options = append(options, vegeta.MaxWorkers(maxOpenLoopWorkers))
	}
	attacker := vegeta.NewAttacker(options...)
	targeter := vegeta.NewStaticTargeter(vegeta.Target{
		Method: http.MethodPost,
		URL:    t.url,
		Body:   t.body,
		Header: t.header,
	})
	pacer := vegeta.ConstantPacer{Freq: spec.rate, Per: time.Second}

	result := runResult{target: t.name, rate: spec.rate, failures: make(map[string]int)}
	if spec.rate > 0 {
		result.latencies = make([]time.Duration, 0, int(float64(spec.rate)*spec.duration.Seconds())+16)
	}
	// The first process is this one, and the second the backend, if any.
	pids := append([]int{os.Getpid()}, t.others...)
	if t.pid != 0 {
		pids = append([]int{os.Getpid(), t.pid}, t.others...)
	}
	before, err := readCPU(pids)
	if err != nil {
		return runResult{}, err
	}

	var first, last time.Time
	for res := range attacker.Attack(targeter, pacer, spec.duration, t.name) {
		if ctx.Err() != nil {
			attacker.Stop()
		}
		result.sent++
		if first.IsZero() || res.Timestamp.Before(first) {
			first = res.Timestamp
		}
		if end := res.End(); end.After(last) {
			last = end
		}
		if result.latencies != nil {
			result.latencies = append(result.latencies, res.Latency)
		}
		if res.Code == http.StatusOK && bytes.HasPrefix(res.Body, codeMarker) {
			result.ok++
			continue
		}
		result.countFailure(res)
	}

	after, err := readCPU(pids)
	if err != nil {
		return runResult{}, err
	}
	result.benchCPU = after.processes[0] - before.processes[0]
	if t.pid != 0 {
		result.cpu = after.processes[1] - before.processes[1]
	}
	result.otherCPU = max(0, after.others()-before.others())
	result.peakInFlight = counter.peak.Load()
	result.elapsed = last.Sub(first)
	if err := ctx.Err(); err != nil {
		return result, fmt.Errorf("attack on %s stopped: %w", t.name, err)
	}
	return result, nil
}

// countFailure records a response that carried no code.
func (r *runResult) countFailure(res *vegeta.Result) {
	var kind string
	switch {
	case res.Code == http.StatusOK:
		kind = "no code in the response"
	case res.Code != 0:
		kind = fmt.Sprintf("status %d", res.Code)
	default:
		kind = res.Error
	}
	if _, seen := r.failures[kind]; !seen && len(r.failures) >= maxFailureKinds {
		kind = "other"
	}
	r.failures[kind]++
}

// inFlightCounter is an http.RoundTripper that tracks the largest number
// of requests in flight at once. A request counts until its response
// headers arrive, which for these small responses is nearly until its end.
type inFlightCounter struct {
	next    http.RoundTripper
	current atomic.Int64
	peak    atomic.Int64
}

func (c *inFlightCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	n := c.current.Add(1)
	defer c.current.Add(-1)
	for {
		peak := c.peak.Load()
		if n <= peak || c.peak.CompareAndSwap(peak, n) {
			break
		}
	}
	return c.next.RoundTrip(r)
}

// errNoSamples is returned by percentile for an empty sample.
var errNoSamples = errors.New("no samples")

// percentiles returns the nearest-rank percentiles q (each in (0, 1]) of
// samples, which it sorts in place.
func percentiles(samples []time.Duration, q ...float64) ([]time.Duration, error) {
	if len(samples) == 0 {
		return nil, errNoSamples
	}
	slices.Sort(samples)
	out := make([]time.Duration, len(q))
	for i, quantile := range q {
		rank := int(math.Ceil(quantile * float64(len(samples))))
		out[i] = samples[min(max(rank, 1), len(samples))-1]
	}
	return out, nil
}

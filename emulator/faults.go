package emulator

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Endpoint names that a Fault applies to.
const (
	endpointToken    = "token"
	endpointGenerate = "generate"
	endpointRedeem   = "redeem"
	endpointAll      = "all"
)

// maxFaultLatencyMs caps Fault.LatencyMs at one hour, longer than any client
// should wait, which also keeps the delay far from overflowing a
// time.Duration.
const maxFaultLatencyMs = int(time.Hour / time.Millisecond)

// Fault is a failure injected into the requests to one endpoint. A request
// that takes a fault waits LatencyMs, or less when the client cancels it.
// Then, with a non-zero Status, it gets that status and an error body whose
// machine code is the status text in snake case, such as
// "service_unavailable". With a zero Status it is served as usual.
type Fault struct {
	// Endpoint is the endpoint the fault applies to: "token", "generate",
	// "redeem" or "all".
	Endpoint string `json:"endpoint"`
	// Status is the HTTP status of the response, from 400 to 599, or zero.
	Status int `json:"status"`
	// Count is the number of requests the fault applies to. Zero means every
	// request until the faults are cleared.
	Count int `json:"count"`
	// LatencyMs delays the response by this many milliseconds, at most
	// 3600000 (one hour).
	LatencyMs int `json:"latencyMs"`
	// RetryAfter, when positive, is sent as a Retry-After header, in seconds,
	// with a non-zero Status.
	RetryAfter int `json:"retryAfter"`
	// Probability is the chance, from 0 to 1, that the fault applies to a
	// matching request. Zero means 1, so the fault applies to every matching
	// request. A request that the fault skips does not count towards Count.
	Probability float64 `json:"probability"`
}

// validate returns an error naming every invalid field of f.
func (f Fault) validate() error {
	var problems []string
	switch f.Endpoint {
	case endpointToken, endpointGenerate, endpointRedeem, endpointAll:
	default:
		problems = append(problems, fmt.Sprintf("endpoint %q is not one of token, generate, redeem, all", f.Endpoint))
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		problems = append(problems, fmt.Sprintf("status %d is not 0 or from 400 to 599", f.Status))
	}
	if f.Count < 0 {
		problems = append(problems, fmt.Sprintf("count %d is negative", f.Count))
	}
	if f.LatencyMs < 0 || f.LatencyMs > maxFaultLatencyMs {
		problems = append(problems, fmt.Sprintf("latencyMs %d is not from 0 to %d", f.LatencyMs, maxFaultLatencyMs))
	}
	if f.RetryAfter < 0 {
		problems = append(problems, fmt.Sprintf("retryAfter %d is negative", f.RetryAfter))
	}
	if math.IsNaN(f.Probability) || f.Probability < 0 || f.Probability > 1 {
		problems = append(problems, fmt.Sprintf("probability %g is not from 0 to 1", f.Probability))
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid fault: %s", strings.Join(problems, "; "))
	}
	return nil
}

// queuedFault is a fault in the queue with the uses it has left.
type queuedFault struct {
	Fault
	remaining int // meaningful only when Count > 0
}

// AddFault validates f and appends it to the fault queue. A request to an
// endpoint takes the first queued fault for that endpoint or for "all" that
// fires, and a fault leaves the queue once it has applied to Count requests.
// A fault with a Probability under 1 fires for each matching request with that
// chance. When it does not fire, the request goes on to the next queued fault.
func (e *Emulator) AddFault(f Fault) error {
	if err := f.validate(); err != nil {
		return err
	}
	e.faultsMu.Lock()
	defer e.faultsMu.Unlock()
	e.faults = append(e.faults, &queuedFault{Fault: f, remaining: f.Count})
	return nil
}

// ClearFaults empties the fault queue.
func (e *Emulator) ClearFaults() {
	e.faultsMu.Lock()
	defer e.faultsMu.Unlock()
	e.faults = nil
}

// takeFault returns the first queued fault for endpoint that fires, using it
// up once.
func (e *Emulator) takeFault(endpoint string) (Fault, bool) {
	e.faultsMu.Lock()
	defer e.faultsMu.Unlock()
	for i, q := range e.faults {
		if q.Endpoint != endpoint && q.Endpoint != endpointAll {
			continue
		}
		if !q.fires() {
			continue
		}
		if q.Count > 0 {
			q.remaining--
			if q.remaining == 0 {
				e.faults = slices.Delete(e.faults, i, i+1)
			}
		}
		return q.Fault, true
	}
	return Fault{}, false
}

// fires reports whether f applies to one matching request, drawing a random
// number only for a Probability strictly between 0 and 1.
func (f Fault) fires() bool {
	if f.Probability <= 0 || f.Probability >= 1 {
		return true
	}
	return rand.Float64() < f.Probability
}

// applyFault applies the first queued fault for endpoint, if any. It returns
// true when the request is finished: the fault's status was sent, or the
// request was cancelled during the delay.
func (e *Emulator) applyFault(w http.ResponseWriter, r *http.Request, endpoint string) bool {
	f, ok := e.takeFault(endpoint)
	if !ok {
		return false
	}
	if f.LatencyMs > 0 {
		bufferBody(r)
		timer := time.NewTimer(time.Duration(f.LatencyMs) * time.Millisecond)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			// The client has gone, so no response can reach it.
			return true
		}
	}
	if f.Status == 0 {
		return false
	}

	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	code := faultErrorCode(f.Status)
	message := fmt.Sprintf("injected fault: %d %s", f.Status, http.StatusText(f.Status))
	if endpoint == endpointToken {
		writeOAuthError(w, f.Status, code, message)
	} else {
		writeError(w, f.Status, code, message)
	}
	return true
}

// bufferBody reads the request body, up to one byte over maxBodyBytes, and
// makes r.Body replay it. The server notices that a client has hung up only
// after the handler has read the request body to its end, so without this a
// delayed request would not see its context cancelled.
//
// NOTE: a body over maxBodyBytes is not read to its end, so cancelling such a
// request leaves its handler waiting until the fault's latency has passed.
func bufferBody(r *http.Request) {
	head, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	var rest io.Reader = r.Body
	if err != nil {
		// The handler gets the same error when it reads the body.
		rest = errorReader{err}
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), rest), r.Body}
}

// errorReader is a reader that always fails with err.
type errorReader struct{ err error }

func (r errorReader) Read([]byte) (int, error) { return 0, r.err }

// faultErrorCode returns the machine code for an injected status, derived
// from its status text: "service_unavailable" for 503.
func faultErrorCode(status int) string {
	text := http.StatusText(status)
	if text == "" {
		return "error"
	}
	return strings.ReplaceAll(strings.ToLower(text), " ", "_")
}

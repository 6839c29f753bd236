package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/c2cauth/c2cauth/livehub"
)

// Label values that stand for many others.
const (
	// otherValue replaces a label value that is malformed or arrives after
	// the label already has maxLabelValues distinct values.
	otherValue = "other"

	// unmatchedRoute is the route of a request that no pattern matched:
	// a 404, a 405 from the multiplexer, or a path it redirects.
	unmatchedRoute = "unmatched"
)

// Fixed values of the Live Hub labels.
const (
	operationToken    = "token"
	operationGenerate = "generate"
	resultOK          = "ok"
	resultError       = "error"
	kindBackground    = "background"
	kindForeground    = "foreground"
	statusNoResponse  = "error"
	resultHit         = "hit"
)

// maxLabelValues is the most distinct values that one label keeps. It is
// far above the number of routes, connections or error codes a deployment
// has, and low enough that a caller passing unexpected text adds at most a
// few hundred series.
const maxLabelValues = 100

// maxLabelValueLength bounds the length of one label value in bytes.
// Connection names and route patterns are far shorter.
const maxLabelValueLength = 128

// labelValues caps the distinct values of one label. It is safe for
// concurrent use.
type labelValues struct {
	mu   sync.Mutex
	seen map[string]struct{}
}

func newLabelValues() *labelValues {
	return &labelValues{seen: make(map[string]struct{})}
}

// bound returns value when it is well formed and is one of the first
// maxLabelValues distinct values seen, and otherValue otherwise.
func (l *labelValues) bound(value string) string {
	if !wellFormed(value) {
		return otherValue
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen[value]; ok {
		return value
	}
	if len(l.seen) >= maxLabelValues {
		return otherValue
	}
	l.seen[value] = struct{}{}
	return value
}

// children caches the child of a metric vector for each key, so that a hot
// path skips hashing label values and the vector's lock. The caller keeps
// the keys to a bounded set. It is safe for concurrent use.
type children[K comparable, V any] struct {
	m sync.Map // K to V
}

// load returns the child for key, if one was made.
func (c *children[K, V]) load(key K) (V, bool) {
	v, ok := c.m.Load(key)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

// get returns the child for key, made by child the first time.
func (c *children[K, V]) get(key K, child func() V) V {
	if v, ok := c.load(key); ok {
		return v
	}
	v, _ := c.m.LoadOrStore(key, child())
	return v.(V)
}

// wellFormed reports whether value can be a label value: valid UTF-8, which
// Prometheus requires, printable, and not too long.
func wellFormed(value string) bool {
	if value == "" || len(value) > maxLabelValueLength || !utf8.ValidString(value) {
		return false
	}
	for _, r := range value {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// methodLabel returns method when it is a standard HTTP method and
// otherValue otherwise, because a client may send any token as a method.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodConnect,
		http.MethodOptions, http.MethodTrace:
		return method
	}
	return otherValue
}

// operationLabel returns the label of a Live Hub operation.
func operationLabel(op string) string {
	switch op {
	case operationToken, operationGenerate:
		return op
	}
	return otherValue
}

// storeOperationLabel returns the label of a token store operation.
func storeOperationLabel(op string) string {
	switch op {
	case livehub.StoreLoad, livehub.StoreSave, livehub.StoreInvalidate, livehub.StoreLock:
		return op
	}
	return otherValue
}

// upstreamStatusLabel returns the label of a Live Hub response status, with
// statusNoResponse for 0, which means that no response arrived.
func upstreamStatusLabel(status int) string {
	switch {
	case status == 0:
		return statusNoResponse
	case status >= 100 && status <= 599:
		return strconv.Itoa(status)
	}
	return otherValue
}

// Package requestid gives every HTTP request an ID that ties its log lines
// together and that the client sees in the X-Request-ID response header.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// Header is the request and response header that carries the ID.
const Header = "X-Request-ID"

// canonicalHeader is Header as net/http stores it, for map access without
// the canonicalization that Get and Set repeat on every call.
var canonicalHeader = http.CanonicalHeaderKey(Header)

// maxLength bounds an incoming ID so a client cannot flood the logs.
const maxLength = 128

type contextKey struct{}

// Middleware takes a well-formed X-Request-ID from the request (as a proxy
// in front may have set it) or generates a random one, stores it in the
// request context and echoes it in the response header.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id string
		if values := r.Header[canonicalHeader]; len(values) > 0 {
			id = values[0]
		}
		if !wellFormed(id) {
			id = New()
		}
		w.Header()[canonicalHeader] = []string{id}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
	})
}

// New returns a random 16-byte ID in hex.
func New() string {
	var b [16]byte
	rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// NewContext returns a copy of ctx that carries id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, contextKey{}, id)
}

// FromContext returns the ID stored in ctx, or "" when there is none.
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(contextKey{}).(string)
	return id
}

// wellFormed accepts IDs of letters, digits and the punctuation that common
// proxies use (UUIDs, trace IDs), so an ID can be logged as it came.
func wellFormed(id string) bool {
	if id == "" || len(id) > maxLength {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/', c == '+', c == '=':
		default:
			return false
		}
	}
	return true
}

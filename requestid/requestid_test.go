package requestid_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/c2cauth/c2cauth/requestid"
)

func TestMiddleware(t *testing.T) {
	tests := []struct {
		name     string
		incoming string
		keep     bool
	}{
		{"none", "", false},
		{"uuid", "0f8fad5b-d9cb-469f-a165-70867728950e", true},
		{"too long", strings.Repeat("a", 129), false},
		{"newline", "abc\ndef", false},
		{"space", "abc def", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen string
			h := requestid.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = requestid.FromContext(r.Context())
			}))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.incoming != "" {
				r.Header.Set(requestid.Header, tt.incoming)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)

			echoed := rec.Header().Get(requestid.Header)
			if echoed != seen {
				t.Errorf("response header %q, context %q, want the same", echoed, seen)
			}
			if tt.keep && seen != tt.incoming {
				t.Errorf("got ID %q, want the incoming %q", seen, tt.incoming)
			}
			if !tt.keep && (seen == tt.incoming || len(seen) != 32) {
				t.Errorf("got ID %q, want a new 32-digit hex ID", seen)
			}
		})
	}
}

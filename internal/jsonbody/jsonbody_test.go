package jsonbody_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/c2cauth/c2cauth/internal/jsonbody"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantPhone string
		wantErr   string // empty means success
	}{
		{"empty object", `{}`, "", ""},
		{"empty object with spaces", " \t\r\n{}\n", "", ""},
		{"spaced empty object", `{ }`, "", ""},
		{"no-break space", "\u00a0{}", "", "must be a JSON object"},
		{"next line", "{}\u0085", "", "after the JSON object"},
		{"phone", `{"callerPhone":"+14155550100"}`, "+14155550100", ""},
		{"whitespace", " \n{ \"callerPhone\" : \"+1\" }\n ", "+1", ""},
		{"empty body", ``, "", "body is empty"},
		{"array", `[]`, "", "must be a JSON object"},
		{"string", `"x"`, "", "must be a JSON object"},
		{"null", `null`, "", "must be a JSON object"},
		{"unknown field", `{"sipConnectionId":"x"}`, "", `unknown field "sipConnectionId"`},
		{"duplicate", `{"callerPhone":"+1","callerPhone":"+2"}`, "", "more than once"},
		{"number", `{"callerPhone":14155550100}`, "", "must be a string"},
		{"null value", `{"callerPhone":null}`, "", "must be a string"},
		{"object value", `{"callerPhone":{}}`, "", "must be a string"},
		{"trailing object", `{}{}`, "", "after the JSON object"},
		{"trailing garbage", `{} x`, "", "after the JSON object"},
		{"unterminated", `{"callerPhone":"+1"`, "", "malformed"},
		{"missing colon", `{"callerPhone" "+1"}`, "", "malformed"},
		{"invalid UTF-8", "{\"callerPhone\":\"+1\xff\"}", "", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var phone string
			err := jsonbody.Decode([]byte(tt.body), map[string]*string{"callerPhone": &phone})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Decode(%q): %v", tt.body, err)
				}
				if phone != tt.wantPhone {
					t.Errorf("got callerPhone %q, want %q", phone, tt.wantPhone)
				}
				return
			}
			if !errors.Is(err, jsonbody.ErrInvalid) {
				t.Fatalf("Decode(%q) = %v, want ErrInvalid", tt.body, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		encoding    string
		body        string
		want        error
	}{
		{"gzip", "application/json", "gzip", `{}`, jsonbody.ErrNotJSON},
		{"identity encoding", "application/json", "identity", `{}`, nil},
		{"json", "application/json", "", `{}`, nil},
		{"json utf-8", "application/json; charset=utf-8", "", `{}`, nil},
		{"form", "application/x-www-form-urlencoded", "", `a=b`, jsonbody.ErrNotJSON},
		{"text", "text/plain", "", `{}`, jsonbody.ErrNotJSON},
		{"missing", "", "", `{}`, jsonbody.ErrNotJSON},
		{"latin1", "application/json; charset=latin1", "", `{}`, jsonbody.ErrNotJSON},
		{"too large", "application/json", "", `{"callerPhone":"` + strings.Repeat("1", 100) + `"}`, jsonbody.ErrTooLarge},
		{"invalid", "application/json", "", `{`, jsonbody.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			if tt.encoding != "" {
				r.Header.Set("Content-Encoding", tt.encoding)
			}
			var phone string
			err := jsonbody.Read(httptest.NewRecorder(), r, 64, map[string]*string{"callerPhone": &phone})
			if !errors.Is(err, tt.want) {
				t.Errorf("got error %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{`{}`, `{"callerPhone":"+1"}`, `{"a":1}`, `[`, `{"callerPhone":"x"}{}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var phone string
		err := jsonbody.Decode(body, map[string]*string{"callerPhone": &phone})
		if err != nil && !errors.Is(err, jsonbody.ErrInvalid) {
			t.Errorf("Decode(%q) = %v, which does not wrap ErrInvalid", body, err)
		}
	})
}

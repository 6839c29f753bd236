package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// maxBodyBytes caps every request body. The bodies that Live Hub's
// documentation describes are a few hundred bytes at most.
const maxBodyBytes = 64 << 10

// errorBody is the JSON body of every error except the token endpoint's.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// oauthErrorBody is the JSON body of a token endpoint error, as RFC 6749
// section 5.2 defines it.
type oauthErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// writeJSON writes v as the JSON body of a response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only the fixed types of this package reach here, and they always
		// marshal, so this is a programming error.
		panic(fmt.Sprintf("emulator: marshal %T: %v", v, err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// writeError writes an error response in the emulator's own shape.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorBody{Error: code, Message: message})
}

// writeOAuthError writes a token endpoint error response.
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, oauthErrorBody{Error: code, ErrorDescription: description})
}

// errBodyTooLarge reports a request body over maxBodyBytes.
var errBodyTooLarge = fmt.Errorf("request body is larger than %d bytes", maxBodyBytes)

// readBody reads the request body, up to maxBodyBytes. It returns
// errBodyTooLarge for a larger body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if maxErr := (*http.MaxBytesError)(nil); errors.As(err, &maxErr) {
		return nil, errBodyTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	return body, nil
}

// writeReadError responds to a failed readBody.
func writeReadError(w http.ResponseWriter, err error) {
	if errors.Is(err, errBodyTooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, "request_too_large", err.Error())
		return
	}
	writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
}

// hasMediaType reports whether the request's Content-Type names mediaType,
// with any parameters.
func hasMediaType(r *http.Request, mediaType string) bool {
	got, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && strings.EqualFold(got, mediaType)
}

// readObject reads the request body as one JSON object. When the body is
// too large or not an object, it writes the error response and returns
// false.
func readObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	body, err := readBody(w, r)
	if err != nil {
		writeReadError(w, err)
		return nil, false
	}
	obj, err := decodeObject(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return nil, false
	}
	return obj, true
}

// decodeObject parses body as one JSON object, keeping its members raw.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("request body is not a JSON object: %w", err)
	}
	if obj == nil {
		return nil, errors.New("request body is not a JSON object: got null")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("request body has data after the JSON object")
	}
	return obj, nil
}

// optionalString returns the string member name of obj, and whether it is
// present. A member that is present but not a string, null included, is an
// error.
func optionalString(obj map[string]json.RawMessage, name string) (string, bool, error) {
	raw, ok := obj[name]
	if !ok {
		return "", false, nil
	}
	var s string
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) || json.Unmarshal(raw, &s) != nil {
		return "", false, fmt.Errorf("%s must be a string", name)
	}
	return s, true, nil
}

// isE164 reports whether s is a phone number in E.164 form: a plus sign and
// 2 to 15 digits, the first of which is not 0.
func isE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, c := range []byte(s[1:]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

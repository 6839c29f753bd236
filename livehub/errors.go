package livehub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Operations named in Error.Op.
const (
	OpToken    = "token"    // the OAuth 2.0 token request
	OpGenerate = "generate" // the generateAuthenticationCode request
)

// Error is an HTTP error response from Live Hub. Occurrences of the client
// secret and the access token in the response are replaced before they reach
// Code, Description or Body, so an Error is safe to log.
//
// Live Hub does not document the body of its error responses. The token
// endpoint is assumed to follow RFC 6749 section 5.2. A generate error body is
// read for the same fields, a message field, or an error object with code and
// message fields.
type Error struct {
	// Op is the failed request, OpToken or OpGenerate.
	Op string

	// StatusCode is the HTTP status of the response.
	StatusCode int

	// Code is the error field of a JSON body, such as RFC 6749's
	// "invalid_client", or empty.
	Code string

	// Description is the error_description or message field of a JSON body,
	// or empty.
	Description string

	// Body is the start of the response body, at most 4 KiB.
	Body []byte

	// RetryAfter is the delay requested by the Retry-After header, given in
	// seconds or as an HTTP date, or zero when the header is absent or
	// invalid.
	RetryAfter time.Duration
}

// Error returns the operation, the status and the error fields of the body.
func (e *Error) Error() string {
	var b strings.Builder
	switch e.Op {
	case OpToken:
		b.WriteString("livehub: token request failed")
	case OpGenerate:
		b.WriteString("livehub: generate authentication code failed")
	default:
		fmt.Fprintf(&b, "livehub: %s failed", e.Op)
	}
	fmt.Fprintf(&b, ": status %d", e.StatusCode)
	if e.Code != "" {
		fmt.Fprintf(&b, ", error %q", e.Code)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, ", description %q", e.Description)
	}
	return b.String()
}

// IsInvalidRequest reports whether err is a 400 response to a generate
// request, such as for a caller phone that is not in E.164 form.
func IsInvalidRequest(err error) bool {
	e, ok := asError(err)
	return ok && e.Op == OpGenerate && e.StatusCode == http.StatusBadRequest
}

// IsUnauthorized reports whether Live Hub rejected the client's credentials:
// a 401 response from either endpoint, or a token error response with the
// RFC 6749 error "invalid_client" or "unauthorized_client" at any status.
// GenerateAuthenticationCode returns a generate 401 only when a fresh token
// was rejected too.
func IsUnauthorized(err error) bool {
	e, ok := asError(err)
	if !ok {
		return false
	}
	switch e.Op {
	case OpGenerate:
		return e.StatusCode == http.StatusUnauthorized
	case OpToken:
		return e.StatusCode == http.StatusUnauthorized || e.Code == "invalid_client" || e.Code == "unauthorized_client"
	}
	return false
}

// IsSIPConnectionNotFound reports whether err is a 404 response to a
// generate request, which Live Hub returns for an unknown SIP connection.
func IsSIPConnectionNotFound(err error) bool {
	e, ok := asError(err)
	return ok && e.Op == OpGenerate && e.StatusCode == http.StatusNotFound
}

// IsRateLimited reports whether err is a 429 response to either request.
// Error.RetryAfter then holds the delay Live Hub asked for, if any.
func IsRateLimited(err error) bool {
	e, ok := asError(err)
	return ok && e.StatusCode == http.StatusTooManyRequests
}

// IsUnavailable reports whether Live Hub cannot serve either request now: a
// 5xx response, or a 429, because a throttled Live Hub is unavailable to the
// caller until Error.RetryAfter has passed whatever the caller did. Callers
// that treat rate limiting apart should test IsRateLimited first.
func IsUnavailable(err error) bool {
	e, ok := asError(err)
	return ok && (e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500 && e.StatusCode <= 599)
}

// IsTimeout reports whether a request to Live Hub, or the wait for an access
// token, ended because a deadline passed: Client.Timeout, the caller's
// context deadline or a transport timeout.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

func isGenerateStatus(err error, status int) bool {
	e, ok := asError(err)
	return ok && e.Op == OpGenerate && e.StatusCode == status
}

func asError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// newError builds an *Error from a response. The body may be longer than the
// cap, and extraSecrets are replaced in it along with the client secret.
func (c *Client) newError(op string, status int, header http.Header, body []byte, extraSecrets ...string) *Error {
	secrets := c.secrets(extraSecrets...)
	body = redactBody(body, secrets, maxBodySize)
	code, description := parseErrorBody(body)
	return &Error{
		Op:          op,
		StatusCode:  status,
		Code:        code,
		Description: description,
		Body:        body,
		RetryAfter:  parseRetryAfter(header.Get("Retry-After"), c.now()),
	}
}

// secrets returns the strings that must not appear in an Error: the client
// secret, also form-encoded as the token request sends it, and extra.
func (c *Client) secrets(extra ...string) []string {
	var list []string
	secret := c.clientSecret()
	for _, s := range append([]string{secret, url.QueryEscape(secret), c.ClientSecret, url.QueryEscape(c.ClientSecret)}, extra...) {
		if s != "" {
			list = append(list, s)
		}
	}
	return list
}

func (c *Client) redactString(s string) string {
	for _, secret := range c.secrets() {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	return s
}

const redacted = "[redacted]"

// redactBody replaces each secret in body and returns at most limit bytes.
// A body longer than limit was or is cut short, which may have cut a secret
// too, so then a tail that is the start of a secret is removed as well.
func redactBody(body []byte, secrets []string, limit int) []byte {
	out := bytes.Clone(body)
	for _, secret := range secrets {
		out = bytes.ReplaceAll(out, []byte(secret), []byte(redacted))
	}
	if len(body) <= limit && len(out) <= limit {
		return out
	}

	out = out[:min(len(out), limit)]
	for _, secret := range secrets {
		for n := min(len(secret)-1, len(out)); n > 0; n-- {
			if bytes.HasSuffix(out, []byte(secret[:n])) {
				out = out[:len(out)-n]
				break
			}
		}
	}
	return out
}

// parseErrorBody returns the error code and description of an error body. It
// accepts the RFC 6749 fields error and error_description, a message field,
// and an error object with code and message fields. A body that is not a
// JSON object yields empty strings.
func parseErrorBody(body []byte) (code, description string) {
	var fields struct {
		Error            json.RawMessage `json:"error"`
		ErrorDescription json.RawMessage `json:"error_description"`
		Message          json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(body, &fields); err != nil {
		return "", ""
	}

	code = jsonString(fields.Error)
	description = jsonString(fields.ErrorDescription)
	if description == "" {
		description = jsonString(fields.Message)
	}
	if code == "" && description == "" {
		var nested struct {
			Code    json.RawMessage `json:"code"`
			Message json.RawMessage `json:"message"`
		}
		if json.Unmarshal(fields.Error, &nested) == nil {
			code = jsonString(nested.Code)
			description = jsonString(nested.Message)
		}
	}
	return code, description
}

// jsonString returns raw decoded as a JSON string, or empty when it is not one.
func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// parseRetryAfter returns the delay of a Retry-After header value, given as
// delay seconds or as an HTTP date measured from now. It returns zero for an
// empty, invalid or past value.
func parseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	if seconds, err := strconv.ParseInt(value, 10, 64); err == nil {
		if seconds <= 0 {
			return 0
		}
		return time.Duration(min(seconds, math.MaxInt64/int64(time.Second))) * time.Second
	}
	if when, err := http.ParseTime(value); err == nil {
		return max(when.Sub(now), 0)
	}
	return 0
}

package authcode

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// ErrorCode is the machine-readable error field of an error response.
type ErrorCode string

// The error codes of the endpoint. statusByCode gives each one's HTTP status.
const (
	CodeInvalidRequest        ErrorCode = "invalid_request"
	CodeInvalidCallerPhone    ErrorCode = "invalid_caller_phone"
	CodeUnauthenticated       ErrorCode = "unauthenticated"
	CodeOriginNotAllowed      ErrorCode = "origin_not_allowed"
	CodeCallerPhoneNotAllowed ErrorCode = "caller_phone_not_allowed"
	CodeUnknownConnection     ErrorCode = "unknown_connection"
	CodeNotFound              ErrorCode = "not_found"
	CodeMethodNotAllowed      ErrorCode = "method_not_allowed"
	CodeBodyTooLarge          ErrorCode = "body_too_large"
	CodeUnsupportedMediaType  ErrorCode = "unsupported_media_type"
	CodeRateLimited           ErrorCode = "rate_limited"
	CodeInternal              ErrorCode = "internal_error"
	CodeLiveHubRejected       ErrorCode = "livehub_rejected"
	CodeIdentityUnavailable   ErrorCode = "identity_unavailable"
	CodeLimitUnavailable      ErrorCode = "rate_limit_unavailable"
	CodeLiveHubUnavailable    ErrorCode = "livehub_unavailable"
	CodeLiveHubTimeout        ErrorCode = "livehub_timeout"
)

// statusByCode is the one table from error code to HTTP status.
var statusByCode = map[ErrorCode]int{
	CodeInvalidRequest:        http.StatusBadRequest,
	CodeInvalidCallerPhone:    http.StatusBadRequest,
	CodeUnauthenticated:       http.StatusUnauthorized,
	CodeOriginNotAllowed:      http.StatusForbidden,
	CodeCallerPhoneNotAllowed: http.StatusForbidden,
	CodeUnknownConnection:     http.StatusNotFound,
	CodeNotFound:              http.StatusNotFound,
	CodeMethodNotAllowed:      http.StatusMethodNotAllowed,
	CodeBodyTooLarge:          http.StatusRequestEntityTooLarge,
	CodeUnsupportedMediaType:  http.StatusUnsupportedMediaType,
	CodeRateLimited:           http.StatusTooManyRequests,
	CodeInternal:              http.StatusInternalServerError,
	CodeLiveHubRejected:       http.StatusBadGateway,
	CodeIdentityUnavailable:   http.StatusServiceUnavailable,
	CodeLimitUnavailable:      http.StatusServiceUnavailable,
	CodeLiveHubUnavailable:    http.StatusServiceUnavailable,
	CodeLiveHubTimeout:        http.StatusGatewayTimeout,
}

// Status returns the HTTP status for code, or 500 for an unknown code.
func (code ErrorCode) Status() int {
	if status, ok := statusByCode[code]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// Error is a rejected request: a code and a message that are safe to show
// the client, and a cause that only the log records.
type Error struct {
	Code ErrorCode

	// Message is one sentence for the client. It never contains a secret,
	// an access token or a code.
	Message string

	// RetryAfter, when positive, is sent as the Retry-After header in whole
	// seconds, rounded up.
	RetryAfter time.Duration

	// Err is the underlying cause, for the log only.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// errorf returns an *Error with a formatted message and no cause.
func errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error   ErrorCode `json:"error"`
	Message string    `json:"message"`
}

// WriteError writes err as a JSON error response. An error that is not an
// *Error becomes a 500 with a generic message, because its text was not
// written for clients.
func WriteError(w http.ResponseWriter, err error) {
	e, ok := errors.AsType[*Error](err)
	if !ok {
		e = &Error{Code: CodeInternal, Message: "The server failed to handle the request."}
	}
	header := w.Header()
	header.Set("Content-Type", "application/json")
	header.Set("Cache-Control", "no-store")
	header.Set("X-Content-Type-Options", "nosniff")
	if e.RetryAfter > 0 {
		header.Set("Retry-After", strconv.Itoa(retryAfterSeconds(e.RetryAfter)))
	}
	w.WriteHeader(e.Code.Status())
	json.NewEncoder(w).Encode(errorBody{Error: e.Code, Message: e.Message})
}

// retryAfterSeconds rounds d up to whole seconds, at least one.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

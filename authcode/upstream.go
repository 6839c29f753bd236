package authcode

import (
	"context"
	"errors"
	"time"

	"github.com/c2cauth/c2cauth/livehub"
)

// maxCodeLength bounds a code from Live Hub. Documented codes are 37
// characters long.
const maxCodeLength = 256

// defaultRetryAfter is the Retry-After sent with a 503 when Live Hub gave
// none.
const defaultRetryAfter = 2 * time.Second

// upstreamError turns a failed Live Hub call into the endpoint's error.
// Errors caused by our own configuration are 502 with a message that names
// the connection, so an operator reading a visitor's report can tell where to
// look; errors caused by the visitor's input are 4xx.
func upstreamError(ctx context.Context, err error, req *request) *Error {
	var lhErr *livehub.Error
	errors.As(err, &lhErr)

	switch {
	case livehub.IsSIPConnectionNotFound(err):
		return errorf(CodeLiveHubRejected, "Live Hub does not know the SIP connection configured for connection %q; the site's configuration needs fixing.", req.connection).withCause(err)
	case livehub.IsInvalidRequest(err) && req.callerPhone != "":
		return &Error{Code: CodeInvalidCallerPhone, Message: "Live Hub rejected the caller phone as invalid.", Err: err}
	case livehub.IsInvalidRequest(err):
		return errorf(CodeLiveHubRejected, "Live Hub rejected the request for connection %q.", req.connection).withCause(err)
	case livehub.IsUnauthorized(err):
		return errorf(CodeLiveHubRejected, "Live Hub rejected the site's API client credentials.").withCause(err)
	case livehub.IsRateLimited(err), livehub.IsUnavailable(err):
		retryAfter := defaultRetryAfter
		if lhErr != nil && lhErr.RetryAfter > 0 {
			// The client pauses for at most MaxRetryAfter, so a longer wait
			// would turn visitors away after Live Hub is used again.
			retryAfter = min(lhErr.RetryAfter, livehub.MaxRetryAfter)
		}
		return &Error{Code: CodeLiveHubUnavailable, Message: "Live Hub is unavailable; try again shortly.", RetryAfter: retryAfter, Err: err}
	case errors.Is(err, livehub.ErrInvalidResponse):
		return errorf(CodeLiveHubRejected, "Live Hub sent a response that could not be read.").withCause(err)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &Error{Code: CodeLiveHubTimeout, Message: "Live Hub did not answer in time; try again.", Err: err}
	case lhErr != nil:
		return errorf(CodeLiveHubRejected, "Live Hub rejected the request for connection %q.", req.connection).withCause(err)
	default:
		return &Error{Code: CodeLiveHubUnavailable, Message: "Live Hub could not be reached; try again shortly.", RetryAfter: defaultRetryAfter, Err: err}
	}
}

// withCause sets e's cause and returns e.
func (e *Error) withCause(err error) *Error {
	e.Err = err
	return e
}

// validCode reports whether code looks like a token the widget can use and
// can be written into JSON without escaping.
func validCode(code string) bool {
	if code == "" || len(code) > maxCodeLength {
		return false
	}
	for _, c := range []byte(code) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == '.', c == '~':
		default:
			return false
		}
	}
	return true
}

package authcode

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/c2cauth/c2cauth/phone"
	"github.com/c2cauth/c2cauth/requestid"
)

// shownCodeLength is how much of a code the log shows: the "LHv1_" prefix
// and four hex digits, enough to match a visitor's report to a log line and
// far too little to use the code.
const shownCodeLength = 9

// audit logs one event for a finished request. Client errors are logged at
// Info, because they are the visitor's doing. Errors on our side or Live
// Hub's are logged at Warn or Error with their cause.
func (h *Handler) audit(r *http.Request, req *request, err error, latency time.Duration) {
	if r.Method == http.MethodOptions && err == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", requestid.FromContext(r.Context())),
		slog.String("user", req.identity.UserID),
		slog.String("connection", req.connection),
		slog.Duration("latency", latency),
	}
	if req.callerPhone != "" {
		attrs = append(attrs, slog.String("caller_phone", phone.Mask(req.callerPhone)))
	}
	if err == nil {
		attrs = append(attrs, slog.String("outcome", "issued"), slog.String("code", ShortenCode(req.code)))
		h.logger.LogAttrs(r.Context(), slog.LevelInfo, "auth code issued", attrs...)
		return
	}

	e, ok := errors.AsType[*Error](err)
	if !ok {
		e = &Error{Code: CodeInternal, Err: err}
	}
	attrs = append(attrs, slog.String("outcome", string(e.Code)), slog.Int("status", e.Code.Status()))
	if e.Err != nil {
		attrs = append(attrs, slog.String("error", e.Err.Error()))
	}
	level := slog.LevelInfo
	switch {
	case errors.Is(r.Context().Err(), context.Canceled):
		attrs = append(attrs, slog.Bool("client_gone", true))
	case e.Code.Status() >= 500:
		level = slog.LevelError
		if e.Code.Status() != http.StatusInternalServerError {
			level = slog.LevelWarn
		}
	}
	h.logger.LogAttrs(context.WithoutCancel(r.Context()), level, "auth code rejected", attrs...)
}

// ShortenCode returns the first characters of an authentication code for
// logs, such as "LHv1_8e22…".
func ShortenCode(code string) string {
	if len(code) <= shownCodeLength {
		return "…"
	}
	return code[:shownCodeLength] + "…"
}

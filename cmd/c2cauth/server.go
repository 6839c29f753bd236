package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Server timeouts. The auth-code endpoint reads a body of a few bytes and
// responds within the Live Hub timeout, so tight limits cost nothing and stop
// slow clients from holding connections.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 10 * time.Second
)

// listen opens a TCP listener on addr; purpose names it in the error.
func listen(addr, purpose string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for %s on %q: %w", purpose, addr, err)
	}
	return ln, nil
}

// serve runs an HTTP server on ln until ctx is cancelled, then shuts it down
// gracefully, giving in-flight requests up to shutdownTimeout to finish.
// With tlsConfig it serves HTTPS.
func serve(ctx context.Context, ln net.Listener, tlsConfig *tls.Config, handler http.Handler, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		TLSConfig:         tlsConfig,
	}

	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()

	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("shut down server on %s: %w", ln.Addr(), err)
	}
	return nil
}

// baseURL returns the http URL of a listener, with a loopback address in
// place of an unspecified one so that it can be opened as printed.
func baseURL(ln net.Listener) string {
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	switch {
	case addr.IP.IsUnspecified():
		host = "127.0.0.1"
	case strings.Contains(host, ":"):
		host = "[" + host + "]"
	}
	return fmt.Sprintf("http://%s:%d", host, addr.Port)
}

// newLogger returns a logger writing to w in format ("text" or "json") at
// level ("debug", "info", "warn" or "error"). Its error names every invalid
// option.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var problems []error
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		problems = append(problems, fmt.Errorf("--log-level %q is invalid; use debug, info, warn or error", level))
	}
	if format != "text" && format != "json" {
		problems = append(problems, fmt.Errorf("--log-format %q is invalid; use text or json", format))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}

	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

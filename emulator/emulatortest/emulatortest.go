// Package emulatortest runs a Live Hub emulator on a loopback listener for
// tests, as net/http/httptest does for any handler.
package emulatortest

import (
	"net/http/httptest"
	"net/url"

	"github.com/c2cauth/c2cauth/emulator"
)

// Test defaults for the settings that NewServer fills in.
const (
	DefaultClientID      = "test-client"
	DefaultClientSecret  = "test-secret"
	DefaultSIPConnection = "3f6c2a9e-7b41-4d8e-a5c3-91e07d2b6f48"
)

// Server is a running emulator and the credentials it accepts.
type Server struct {
	*httptest.Server

	// Emulator is the emulator behind Server, for its test controls.
	Emulator *emulator.Emulator

	// ClientID and ClientSecret are the API client credentials the emulator
	// accepts.
	ClientID     string
	ClientSecret string

	// SIPConnection is the first SIP connection ID of the emulator's configuration.
	SIPConnection string
}

// NewServer starts an emulator configured by cfg on 127.0.0.1 and a free
// port. An empty ClientID, ClientSecret or SIPConnections is replaced by
// DefaultClientID, DefaultClientSecret or DefaultSIPConnection. The caller
// must call Close.
func NewServer(cfg emulator.Config) *Server {
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = DefaultClientSecret
	}
	if len(cfg.SIPConnections) == 0 {
		cfg.SIPConnections = []string{DefaultSIPConnection}
	}

	e := emulator.New(cfg)
	return &Server{
		Server:        httptest.NewServer(e),
		Emulator:      e,
		ClientID:      cfg.ClientID,
		ClientSecret:  cfg.ClientSecret,
		SIPConnection: cfg.SIPConnections[0],
	}
}

// TokenURL returns the URL of the emulator's token endpoint.
func (s *Server) TokenURL() string {
	return s.URL + "/oauth/token"
}

// GenerateURL returns the URL of the generate endpoint for a SIP connection.
func (s *Server) GenerateURL(sipConnectionID string) string {
	return s.URL + "/api/v1/sipConnections/" + url.PathEscape(sipConnectionID) + "/generateAuthenticationCode"
}

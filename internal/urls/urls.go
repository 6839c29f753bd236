// Package urls writes the URLs of the identity packages' settings into
// messages and decides which of them stay on the local machine.
package urls

import (
	"net"
	"net/url"
	"strings"
)

// maskedPassword replaces a password in a URL that a message repeats, as
// url.URL.Redacted does.
const maskedPassword = "xxxxx"

// Echo returns raw as the operator typed it, for a configuration error, but
// with the password of its user information replaced by "xxxxx" and its
// query, which may hold a key, left out. Unlike url.URL.Redacted it does not
// escape characters, so "not a url" stays readable. It finds the user
// information as url.Parse does: after "//", before the last "@" of the
// authority.
func Echo(raw string) string {
	return withoutQuery(echoPassword(raw))
}

// withoutQuery drops the query of raw, from the first "?" before any "#".
func withoutQuery(raw string) string {
	question := strings.Index(raw, "?")
	if question < 0 {
		return raw
	}
	if hash := strings.Index(raw, "#"); hash >= 0 && hash < question {
		return raw
	}
	rest := raw[question:]
	if hash := strings.Index(rest, "#"); hash >= 0 {
		return raw[:question] + rest[hash:]
	}
	return raw[:question]
}

// echoPassword returns raw with the password of its user information
// replaced by "xxxxx".
func echoPassword(raw string) string {
	start := strings.Index(raw, "//")
	if start < 0 || strings.ContainsAny(raw[:start], "/?#") {
		return raw
	}
	start += len("//")
	end := len(raw)
	if i := strings.IndexAny(raw[start:], "/?#"); i >= 0 {
		end = start + i
	}
	at := strings.LastIndex(raw[start:end], "@")
	if at < 0 {
		return raw
	}
	colon := strings.Index(raw[start:start+at], ":")
	if colon < 0 {
		return raw
	}
	return raw[:start+colon+1] + maskedPassword + raw[start+at:]
}

// WithoutSecrets returns u without its user information, query and
// fragment, which may hold a secret, for messages that a program logs or
// prints while it runs.
func WithoutSecrets(u *url.URL) string {
	public := *u
	public.User, public.RawQuery, public.ForceQuery = nil, "", false
	public.Fragment, public.RawFragment = "", ""
	return public.String()
}

// IsLoopbackHost reports whether host, a URL's host name without its port,
// is "localhost" or a loopback IP address. It does not resolve names, so a
// name that resolves to a loopback address is not one.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

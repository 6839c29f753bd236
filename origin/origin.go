// Package origin decides which web origins may ask for authentication
// codes: the cross-site request forgery (CSRF) check on unsafe requests,
// and whether a response may be shared with another origin through CORS.
//
// A page on any site can make a visitor's browser post to the auth-code
// endpoint with the visitor's cookies, and each code it obtains can start a
// paid call. So only the endpoint's own origin and the origins listed
// exactly in the configuration may ask. The CSRF check is net/http's
// CrossOriginProtection (Go 1.25 and later) with the listed origins as its
// trusted origins.
package origin

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// EntryError is the error of New for one allowed origin that it rejects.
type EntryError struct {
	Entry string // the entry as given to New
	Err   error  // the reason it is not an origin, such as "missing scheme"
}

// Error returns the package, the entry and the reason.
func (e *EntryError) Error() string {
	return fmt.Sprintf("origin: allowed origin %q: %v", e.Entry, e.Err)
}

// Unwrap returns the reason.
func (e *EntryError) Unwrap() error { return e.Err }

// ErrCrossOrigin marks a request rejected as cross-origin.
var ErrCrossOrigin = errors.New("cross-origin request rejected")

// Policy is a list of allowed origins. It is safe for concurrent use.
type Policy struct {
	allowed map[string]bool
	origins []string
	csrf    *http.CrossOriginProtection
}

// New returns a Policy that allows the given origins besides the
// endpoint's own. Each entry is an exact origin, "https://www.example.com"
// or "http://127.0.0.1:8080": scheme http or https, a host, an optional
// port, and no path, query, fragment or user information. A trailing "/"
// is removed, scheme and host are lowercased and a default port (80 for
// http, 443 for https) is dropped, so that the entry matches the Origin
// header that browsers send. Internationalized host names must be written
// in their ASCII (xn--) form, as browsers send them.
//
// Wildcards ("*", "https://*.example.com") and "null" are rejected:
// credentialed CORS never allows a wildcard, and "null" is the origin of
// sandboxed frames and local files, which any page can produce. The error
// joins one *EntryError for each invalid entry. An empty list allows only the endpoint's own
// origin.
func New(allowed []string) (*Policy, error) {
	p := &Policy{
		allowed: make(map[string]bool),
		csrf:    http.NewCrossOriginProtection(),
	}
	var problems []error
	for _, entry := range allowed {
		origin, err := normalize(entry)
		if err != nil {
			problems = append(problems, &EntryError{Entry: entry, Err: err})
			continue
		}
		if p.allowed[origin] {
			continue
		}
		if err := p.csrf.AddTrustedOrigin(origin); err != nil {
			problems = append(problems, &EntryError{Entry: entry, Err: err})
			continue
		}
		p.allowed[origin] = true
		p.origins = append(p.origins, origin)
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return p, nil
}

// Origins returns the allowed origins in normalized form, in the order
// given to New, without duplicates.
func (p *Policy) Origins() []string {
	return slices.Clone(p.origins)
}

// Check returns nil when r may proceed and an error wrapping
// ErrCrossOrigin when it is a cross-origin browser request from an origin
// that is not allowed. It follows http.CrossOriginProtection:
//
//   - GET, HEAD and OPTIONS requests always pass.
//   - Sec-Fetch-Site "same-origin" or "none" (the user typed the URL)
//     passes.
//   - Any other Sec-Fetch-Site, "same-site" and "cross-site" included,
//     passes only with an allowed Origin. A sibling subdomain is same-site
//     but still another origin.
//   - Without Sec-Fetch-Site, an Origin whose host and port equal the Host
//     header passes, whatever its scheme. Any other Origin must be allowed.
//   - A request with neither header passes: it comes from a program, such as
//     curl or another server, that no visitor's browser can be made to send.
//
// The Origin header is normalized as New normalizes entries before it is
// compared.
func (p *Policy) Check(r *http.Request) error {
	header := r.Header.Get("Origin")
	// Allowed origins are normalized already. Browsers send that form, so
	// normalizing only keeps Check in step with AllowCORS for hand-written
	// headers.
	if !p.allowed[header] {
		if normalized, err := normalize(header); err == nil && normalized != header {
			r = r.Clone(r.Context())
			r.Header.Set("Origin", normalized)
		}
	}

	err := p.csrf.Check(r)
	if err == nil {
		return nil
	}
	site := r.Header.Get("Sec-Fetch-Site")
	if site == "" {
		return fmt.Errorf("%w: origin %q is neither the host %q nor an allowed origin: %w", ErrCrossOrigin, clip(header), clip(r.Host), err)
	}
	return fmt.Errorf("%w: origin %q of a %q request is not an allowed origin: %w", ErrCrossOrigin, clip(header), clip(site), err)
}

// AllowCORS reports whether a response may be shared with the page whose
// Origin header is origin: only when origin, normalized as New normalizes
// entries, is an allowed origin. It is false for "null" and for an empty
// origin. The endpoint's own origin needs no CORS and is not included.
func (p *Policy) AllowCORS(origin string) bool {
	if p.allowed[origin] {
		return true // allowed entries are normalized already
	}
	normalized, err := normalize(origin)
	return err == nil && p.allowed[normalized]
}

// normalize returns the canonical form of an origin, or an error that
// explains why it is not one.
func normalize(entry string) (string, error) {
	s := strings.TrimSpace(entry)
	switch {
	case s == "":
		return "", errors.New("empty origin")
	case strings.EqualFold(s, "null"):
		return "", errors.New("the null origin is sent by sandboxed frames and local files, which any page can produce")
	case strings.Contains(s, "*"):
		return "", errors.New("wildcards are not allowed with credentialed CORS; list each origin")
	case strings.ContainsAny(s, "%\\"):
		return "", errors.New("percent-encoding and backslashes are not allowed; write the host as browsers send it")
	}

	u, err := url.Parse(s)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return "", fmt.Errorf("invalid URL: %w", err)
	}
	switch {
	case u.Scheme == "":
		return "", errors.New("missing scheme; write it as https://HOST")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("scheme %q is not http or https", u.Scheme)
	case u.Opaque != "" || u.Host == "":
		return "", errors.New("missing host; write it as " + u.Scheme + "://HOST")
	case u.User != nil:
		return "", errors.New("user information is not allowed")
	case u.Path != "" && u.Path != "/":
		return "", fmt.Errorf("path %q is not allowed; an origin is scheme, host and port only", u.Path)
	case u.RawQuery != "" || u.ForceQuery:
		return "", errors.New("a query is not allowed; an origin is scheme, host and port only")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "", errors.New("a fragment is not allowed; an origin is scheme, host and port only")
	}

	host, err := normalizeHost(u.Hostname())
	if err != nil {
		return "", err
	}
	origin := u.Scheme + "://" + host
	if portText := u.Port(); portText != "" {
		port, err := strconv.Atoi(portText)
		if err != nil || port < 1 || port > 65535 {
			return "", fmt.Errorf("port %q is not between 1 and 65535", portText)
		}
		if !(u.Scheme == "http" && port == 80 || u.Scheme == "https" && port == 443) {
			origin += ":" + strconv.Itoa(port)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", errors.New("empty port")
	}
	return origin, nil
}

// normalizeHost returns host lowercased, with an IPv6 literal in its
// canonical bracketed form, or an error for a host that browsers never
// send in an Origin header.
func normalizeHost(host string) (string, error) {
	if host == "" {
		return "", errors.New("missing host")
	}
	if strings.Contains(host, ":") {
		addr, err := netip.ParseAddr(host)
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return "", fmt.Errorf("host %q is not a valid IPv6 address", host)
		}
		return "[" + addr.String() + "]", nil
	}
	host = strings.ToLower(host)
	for _, c := range host {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", fmt.Errorf("host %q contains %q; write internationalized names in their xn-- form", host, c)
		}
	}
	return host, nil
}

// clip shortens a header value for an error message, since a client can
// send one of any length.
func clip(s string) string {
	const maxLength = 100
	if len(s) <= maxLength {
		return s
	}
	return s[:maxLength] + "..."
}

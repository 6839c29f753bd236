package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/c2cauth/c2cauth/clientip"
	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/identity/forward"
	"github.com/c2cauth/c2cauth/identity/headerauth"
	"github.com/c2cauth/c2cauth/identity/jwtauth"
	"github.com/c2cauth/c2cauth/origin"
	"github.com/c2cauth/c2cauth/ratelimit"
)

// Default limits of `c2cauth serve`. A visitor places a call or two a
// minute at most, so ten codes a minute per user leaves room for retries
// while bounding what one stolen account can cost. One IP address may hide
// a few users behind NAT, so it gets twice that. The global limit caps the
// damage of a distributed attack; a busy site raises it.
const (
	defaultLimitUser   = "10/1m"
	defaultLimitIP     = "20/1m"
	defaultLimitGlobal = "600/1m"
)

// policyConfig holds the options of the request policies.
type policyConfig struct {
	auth           string
	forwardURL     string
	forwardTimeout time.Duration
	jwtJWKSURL     string
	jwtKeyFile     string
	jwtIssuer      string
	jwtAudience    string
	jwtAlgorithms  []string
	jwtCookie      string
	jwtLeeway      time.Duration
	headerUser     string
	headerPhone    string
	allowedOrigins []string
	trustedProxies []string
	limitUser      string
	limitIP        string
	limitGlobal    string
}

func (c *policyConfig) register(o *options) {
	o.stringVar(&c.auth, "auth", "C2CAUTH_AUTH", "", "`mode` that decides who may request codes: none (anyone; public sites), forward, jwt or header")
	o.stringVar(&c.forwardURL, "forward-url", "C2CAUTH_FORWARD_URL", "", "with --auth forward: the site's `URL` that answers 2xx with {\"user\": ID, \"phone\": E164} for a signed-in visitor, given the visitor's Cookie and Authorization headers")
	o.durationVar(&c.forwardTimeout, "forward-timeout", "C2CAUTH_FORWARD_TIMEOUT", 2*time.Second, "with --auth forward: maximum `duration` of one sign-in check")
	o.stringVar(&c.jwtJWKSURL, "jwt-jwks-url", "C2CAUTH_JWT_JWKS_URL", "", "with --auth jwt: `URL` of the identity provider's JSON Web Key Set")
	o.stringVar(&c.jwtKeyFile, "jwt-key-file", "C2CAUTH_JWT_KEY_FILE", "", "with --auth jwt: PEM `file` of the public key that signs tokens, instead of --jwt-jwks-url")
	o.stringVar(&c.jwtIssuer, "jwt-issuer", "C2CAUTH_JWT_ISSUER", "", "with --auth jwt: required `iss` claim")
	o.stringVar(&c.jwtAudience, "jwt-audience", "C2CAUTH_JWT_AUDIENCE", "", "with --auth jwt: required `aud` claim")
	o.listVar(&c.jwtAlgorithms, "jwt-algorithms", "C2CAUTH_JWT_ALGORITHMS", "with --auth jwt: allowed signing `algorithms`, comma-separated (default RS256,ES256)")
	o.stringVar(&c.jwtCookie, "jwt-cookie", "C2CAUTH_JWT_COOKIE", "", "with --auth jwt: cookie `name` to read the token from when there is no Authorization: Bearer header")
	o.durationVar(&c.jwtLeeway, "jwt-leeway", "C2CAUTH_JWT_LEEWAY", 30*time.Second, "with --auth jwt: clock skew `duration` allowed for exp, nbf and iat")
	o.stringVar(&c.headerUser, "header-user", "C2CAUTH_HEADER_USER", "X-Auth-Request-User", "with --auth header: request `header` naming the user, set by a trusted proxy")
	o.stringVar(&c.headerPhone, "header-phone", "C2CAUTH_HEADER_PHONE", "", "with --auth header: request `header` with the user's phone, set by a trusted proxy")
	o.listVar(&c.allowedOrigins, "allowed-origins", "C2CAUTH_ALLOWED_ORIGINS", "`origins` whose pages may request codes, such as https://www.example.com, comma-separated; requests from the backend's own origin are always allowed")
	o.listVar(&c.trustedProxies, "trusted-proxies", "C2CAUTH_TRUSTED_PROXIES", "`CIDRs` of reverse proxies whose X-Forwarded-For and identity headers are trusted, comma-separated")
	o.stringVar(&c.limitUser, "limit-user", "C2CAUTH_LIMIT_USER", defaultLimitUser, "codes per signed-in user, as `N/DURATION`, or off")
	o.stringVar(&c.limitIP, "limit-ip", "C2CAUTH_LIMIT_IP", defaultLimitIP, "codes per client IP address (IPv6: per /64), as `N/DURATION`, or off")
	o.stringVar(&c.limitGlobal, "limit-global", "C2CAUTH_LIMIT_GLOBAL", defaultLimitGlobal, "codes for all visitors together, as `N/DURATION`, or off")
}

// authField names a Config field of an identity package.
type authField struct{ pkg, field string }

// authOptions maps the Config fields of the identity packages to the
// options that set them, so that each start-up problem names the option to
// fix. Fields that no option sets are missing, because the command leaves
// them at their defaults, so New finds no problem with them. The
// exceptions are jwtauth's other key sources, which map to "" so that the
// list of key sources to choose from leaves them out.
var authOptions = map[authField]string{
	{"forward", "URL"}:           "--forward-url",
	{"forward", "Timeout"}:       "--forward-timeout",
	{"forward", "DefaultRegion"}: "--default-region",

	{"jwtauth", "JWKSURL"}:       "--jwt-jwks-url",
	{"jwtauth", "StaticKeyFile"}: "--jwt-key-file",
	{"jwtauth", "StaticKey"}:     "",
	{"jwtauth", "HMACSecret"}:    "",
	{"jwtauth", "Issuer"}:        "--jwt-issuer",
	{"jwtauth", "Audience"}:      "--jwt-audience",
	{"jwtauth", "Algorithms"}:    "--jwt-algorithms",
	{"jwtauth", "Leeway"}:        "--jwt-leeway",
	{"jwtauth", "CookieName"}:    "--jwt-cookie",
	{"jwtauth", "DefaultRegion"}: "--default-region",

	{"headerauth", "UserHeader"}:    "--header-user",
	{"headerauth", "PhoneHeader"}:   "--header-phone",
	{"headerauth", "TrustedPeer"}:   "--trusted-proxies",
	{"headerauth", "DefaultRegion"}: "--default-region",
}

// authProblems returns one problem of --auth mode for each problem in err,
// an error of an identity package's New, naming options instead of Config
// fields.
func authProblems(mode string, err error) []error {
	fieldErrs, others := identity.FieldErrors(err)
	var problems []error
	for _, fieldErr := range fieldErrs {
		message := fieldErr.Message(func(field string) string {
			if option, ok := authOptions[authField{fieldErr.Package, field}]; ok {
				return option
			}
			// NOTE: A field without an option keeps its Go name. It cannot
			// be wrong unless the command starts setting it, and then it
			// needs an entry in authOptions.
			return field
		})
		problems = append(problems, fmt.Errorf("--auth %s: %s", mode, message))
	}
	for _, other := range others {
		problems = append(problems, fmt.Errorf("--auth %s: %v", mode, other))
	}
	return problems
}

// policies is the validated form of policyConfig.
type policies struct {
	authenticator identity.Authenticator
	origin        *origin.Policy
	limiter       *ratelimit.Limiter
	close         func() // stops background work of the authenticator
}

// build validates the policy options and builds the policies, reporting
// every problem at once.
func (c *policyConfig) build(defaultRegion string) (policies, []error) {
	var p policies
	var problems []error
	report := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	resolver, err := clientip.New(c.trustedProxies)
	for _, problem := range splitJoined(err) {
		if entryErr, ok := errors.AsType[*clientip.EntryError](problem); ok {
			report("--trusted-proxies: %q: %v", entryErr.Entry, entryErr.Err)
		} else {
			report("--trusted-proxies: %v", problem)
		}
	}
	if err != nil {
		resolver, _ = clientip.New(nil)
	}

	p.origin, err = origin.New(c.allowedOrigins)
	for _, problem := range splitJoined(err) {
		if entryErr, ok := errors.AsType[*origin.EntryError](problem); ok {
			report("--allowed-origins: %q: %v", entryErr.Entry, entryErr.Err)
		} else {
			report("--allowed-origins: %v", problem)
		}
	}

	limiter := &ratelimit.Limiter{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}), ClientIP: resolver.ClientIP}
	for _, limit := range []struct {
		flag  string
		value string
		rate  *ratelimit.Rate
	}{
		{"--limit-user", c.limitUser, &limiter.PerUser},
		{"--limit-ip", c.limitIP, &limiter.PerIP},
		{"--limit-global", c.limitGlobal, &limiter.Global},
	} {
		rate, err := ratelimit.ParseRate(limit.value)
		if rateErr, ok := errors.AsType[*ratelimit.RateError](err); ok {
			report("%s %q: %s; use N/DURATION such as 5/1m, or off", limit.flag, rateErr.Value, rateErr.Reason)
			continue
		}
		if err != nil {
			report("%s: %v", limit.flag, err)
			continue
		}
		*limit.rate = rate
	}
	p.limiter = limiter

	p.close = func() {}
	switch c.auth {
	case "none":
		p.authenticator = identity.None
	case "forward":
		a, err := forward.New(forward.Config{URL: c.forwardURL, Timeout: c.forwardTimeout, DefaultRegion: defaultRegion})
		if err != nil {
			problems = append(problems, authProblems("forward", err)...)
		} else {
			p.authenticator = a
		}
	case "jwt":
		a, err := c.buildJWT(defaultRegion)
		if err != nil {
			problems = append(problems, authProblems("jwt", err)...)
		} else {
			p.authenticator, p.close = a, a.Close
		}
	case "header":
		if len(c.trustedProxies) == 0 {
			report("--auth header needs --trusted-proxies, because identity headers are trusted only from those proxies")
		}
		a, err := headerauth.New(headerauth.Config{UserHeader: c.headerUser, PhoneHeader: c.headerPhone, TrustedPeer: resolver.TrustedPeer, DefaultRegion: defaultRegion})
		if err != nil {
			problems = append(problems, authProblems("header", err)...)
		} else {
			p.authenticator = a
		}
	case "":
		report("--auth is missing; choose who may request codes: none (anyone, for public sites), forward, jwt or header")
	default:
		report("--auth %q is not a known mode; use none, forward, jwt or header", c.auth)
	}
	return p, problems
}

func (c *policyConfig) buildJWT(defaultRegion string) (*jwtauth.Authenticator, error) {
	return jwtauth.New(jwtauth.Config{
		JWKSURL:       c.jwtJWKSURL,
		StaticKeyFile: c.jwtKeyFile,
		Algorithms:    c.jwtAlgorithms,
		Issuer:        c.jwtIssuer,
		Audience:      c.jwtAudience,
		Leeway:        c.jwtLeeway,
		CookieName:    c.jwtCookie,
		DefaultRegion: defaultRegion,
	})
}

// logWarnings logs, once at start-up, each setting of p that works but
// puts visitors at risk.
func (c *policyConfig) logWarnings(logger *slog.Logger, p policies) {
	if a, ok := p.authenticator.(*forward.Authenticator); ok && a.SendsCredentialsUnencrypted() {
		logger.Warn(unencryptedForwardWarning, "forward_url", outputURL(c.forwardURL))
	}
}

// unencryptedForwardWarning is the warning of serve's log and of check
// when --forward-url sends visitors' credentials unencrypted.
const unencryptedForwardWarning = "--forward-url is plain http to a host that is not loopback, so each sign-in check sends the visitor's Cookie and Authorization headers unencrypted; use https unless the network to the endpoint is private"

// splitJoined returns the errors that err joins with errors.Join, err alone
// when it joins none, and nothing for nil.
func splitJoined(err error) []error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		return joined.Unwrap()
	}
	return []error{err}
}

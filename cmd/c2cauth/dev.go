package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/c2cauth/c2cauth/authcode"
	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/identity/devsession"
	"github.com/c2cauth/c2cauth/internal/jsonbody"
	"github.com/c2cauth/c2cauth/livehub"
	"github.com/c2cauth/c2cauth/origin"
	"github.com/c2cauth/c2cauth/phone"
	"github.com/c2cauth/c2cauth/ratelimit"
	"github.com/c2cauth/c2cauth/requestid"
	"github.com/c2cauth/c2cauth/web"
)

// devUserName is the form of a dev user name.
var devUserName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$`)

// maxRedeemResponse bounds the emulator response that /dev/redeem relays.
const maxRedeemResponse = 4 << 10

// devConfig is the configuration of `c2cauth dev`.
type devConfig struct {
	listen         string
	emulatorListen string
	logFormat      string
	logLevel       string
}

func (c *devConfig) register(o *options) {
	o.stringVar(&c.listen, "listen", "C2CAUTH_LISTEN", "127.0.0.1:8080", "`address` the backend and demo page listen on")
	o.stringVar(&c.emulatorListen, "emulator-listen", "C2CAUTH_EMULATOR_LISTEN", "127.0.0.1:8081", "`address` the Live Hub emulator listens on")
	o.stringVar(&c.logFormat, "log-format", "C2CAUTH_LOG_FORMAT", "text", "log `format`: text or json")
	o.stringVar(&c.logLevel, "log-level", "C2CAUTH_LOG_LEVEL", "info", "log `level`: debug, info, warn or error")
}

func runDev(ctx context.Context, args []string, getenv getenvFunc, stdout, stderr io.Writer) error {
	var cfg devConfig
	o := newOptions("dev", "Run the backend, a Live Hub emulator, a demo page and a dev sign-in on this machine, with no configuration.", stdout, stderr)
	o.configFile("C2CAUTH_CONFIG", sharedConfigKeys())
	cfg.register(o)
	if err := o.parse(args, getenv); err != nil {
		return err
	}
	logger, err := newLogger(stderr, cfg.logFormat, cfg.logLevel)
	if err != nil {
		return &usageError{err}
	}

	emulatorLn, err := listen(cfg.emulatorListen, "the emulator")
	if err != nil {
		return err
	}
	backendLn, err := listen(cfg.listen, "the backend")
	if err != nil {
		emulatorLn.Close()
		return err
	}
	emulatorURL, backendURL := baseURL(emulatorLn), baseURL(backendLn)

	em := emulator.New(emulator.Config{
		ClientID:       devClientID,
		ClientSecret:   devClientSecret,
		SIPConnections: []string{devSIPConnection},
	})
	client := &livehub.Client{BaseURL: emulatorURL, ClientID: devClientID, ClientSecret: devClientSecret}
	sessions, err := devsession.New()
	if err != nil {
		return err
	}

	// Dev mode applies the production policies with settings that suit one
	// person on a laptop. The user must be signed in, and only the page's
	// own origin may ask. The caller phone is the signed-in user's, and each
	// user gets 10 codes a minute.
	sameOrigin, err := origin.New(nil)
	if err != nil {
		return err
	}
	limiter := &ratelimit.Limiter{
		Store:   ratelimit.NewMemory(ratelimit.MemoryOptions{}),
		PerUser: ratelimit.Rate{Limit: 10, Period: time.Minute},
	}
	dev := &devRoutes{
		sessions:    sessions,
		sameOrigin:  sameOrigin,
		emulatorURL: emulatorURL,
		httpClient:  &http.Client{Timeout: 5 * time.Second},
		logger:      logger,
	}
	app, err := newApp(appConfig{
		client:            client,
		connections:       map[string]string{defaultConnectionName: devSIPConnection},
		defaultConnection: defaultConnectionName,
		policies:          policies{authenticator: sessions, origin: sameOrigin, limiter: limiter, close: func() {}},
		callerPhone:       authcode.PhoneFromIdentity,
		logger:            logger,
		dev:               dev,
	})
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, `c2cauth dev is running. Press Ctrl-C to stop.
  demo page         %[1]s/
  auth code         POST %[1]s/v1/auth-code
  dev sign-in       POST %[1]s/dev/login
  Live Hub emulator %[2]s (client %[3]s, SIP connection %[4]s)
  redeem a code     POST %[2]s/emulator/v1/redeem
`, backendURL, emulatorURL, devClientID, devSIPConnection)
	logger.Info("c2cauth dev started", "backend_url", backendURL, "emulator_url", emulatorURL)

	var wg sync.WaitGroup
	errs := make([]error, 2)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() {
		errs[0] = serve(ctx, emulatorLn, nil, em, logger)
		cancel()
	})
	wg.Go(func() {
		errs[1] = serve(ctx, backendLn, nil, app.backendHandler(true), logger)
		cancel()
	})
	wg.Wait()
	logger.Info("c2cauth dev stopped")
	return errors.Join(errs...)
}

// devRoutes serves the demo page and the dev-only endpoints.
type devRoutes struct {
	sessions    *devsession.Manager
	sameOrigin  *origin.Policy
	emulatorURL string
	httpClient  *http.Client
	logger      *slog.Logger
}

// page serves the demo page and its assets.
func (d *devRoutes) page() http.Handler {
	return web.Handler()
}

// protect rejects cross-origin browser requests, so that another page
// cannot sign a visitor in or out or spend codes on their behalf.
func (d *devRoutes) protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.sameOrigin.Check(r); err != nil {
			d.logger.InfoContext(r.Context(), "dev request rejected", "request_id", requestid.FromContext(r.Context()), "path", r.URL.Path, "error", err)
			authcode.WriteError(w, &authcode.Error{Code: authcode.CodeOriginNotAllowed, Message: "Requests from this origin are not allowed."})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// login signs a dev user in with a session cookie:
// POST /dev/login {"user": "NAME", "phone": "+E164"}.
func (d *devRoutes) login(w http.ResponseWriter, r *http.Request) {
	id, err := readDevUser(w, r)
	if err != nil {
		authcode.WriteError(w, err)
		return
	}
	if err := d.sessions.SignIn(w, id); err != nil {
		authcode.WriteError(w, err)
		return
	}
	d.logger.InfoContext(r.Context(), "dev user signed in", "request_id", requestid.FromContext(r.Context()), "user", id.UserID, "phone", phone.Mask(id.Phone))
	w.WriteHeader(http.StatusNoContent)
}

// token issues a dev bearer token, for pages that send the widget's
// generateCode requests with an Authorization header instead of a cookie:
// POST /dev/token {"user": "NAME", "phone": "+E164"}.
func (d *devRoutes) token(w http.ResponseWriter, r *http.Request) {
	id, err := readDevUser(w, r)
	if err != nil {
		authcode.WriteError(w, err)
		return
	}
	token, expires, err := d.sessions.Token(id)
	if err != nil {
		authcode.WriteError(w, err)
		return
	}
	d.logger.InfoContext(r.Context(), "dev token issued", "request_id", requestid.FromContext(r.Context()), "user", id.UserID, "phone", phone.Mask(id.Phone))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(struct {
		AccessToken string `json:"accessToken"`
		TokenType   string `json:"tokenType"`
		ExpiresIn   int    `json:"expiresIn"`
	}{token, "Bearer", int(time.Until(expires).Seconds())})
}

// readDevUser reads and validates {"user": "NAME", "phone": "+E164"}.
func readDevUser(w http.ResponseWriter, r *http.Request) (identity.Identity, error) {
	var user, phoneNumber string
	err := jsonbody.Read(w, r, authcode.DefaultMaxBodyBytes, map[string]*string{"user": &user, "phone": &phoneNumber})
	if err != nil {
		return identity.Identity{}, devBodyError(err, `{"user": "alice", "phone": "+14155550100"}`)
	}
	if !devUserName.MatchString(user) {
		return identity.Identity{}, &authcode.Error{Code: authcode.CodeInvalidRequest, Message: "The user must be 1 to 64 letters, digits or . _ @ + - characters, starting with a letter or digit."}
	}
	id := identity.Identity{UserID: user}
	if phoneNumber != "" {
		id.Phone, err = phone.Normalize(phoneNumber, "")
		if err != nil {
			return identity.Identity{}, &authcode.Error{Code: authcode.CodeInvalidCallerPhone, Message: "The phone is not a valid E.164 number: " + errors.Unwrap(err).Error() + "."}
		}
	}
	return id, nil
}

// devBodyError turns a jsonbody error into a response that shows an
// example of the expected body.
func devBodyError(err error, example string) *authcode.Error {
	if errors.Is(err, jsonbody.ErrInvalid) {
		return &authcode.Error{Code: authcode.CodeInvalidRequest, Message: "The body must be a JSON object such as " + example + " (" + err.Error() + ")."}
	}
	return authcode.BodyError(err, authcode.DefaultMaxBodyBytes)
}

// logout signs the dev user out.
func (d *devRoutes) logout(w http.ResponseWriter, r *http.Request) {
	d.sessions.SignOut(w)
	w.WriteHeader(http.StatusNoContent)
}

// redeem relays a code to the emulator's redeem endpoint, so the demo page
// can stand for the click-to-call SDK starting a call without a
// cross-origin request. The call comes from the signed-in user's phone
// unless the request names another callerPhone.
func (d *devRoutes) redeem(w http.ResponseWriter, r *http.Request) {
	var code, callerPhone string
	err := jsonbody.Read(w, r, authcode.DefaultMaxBodyBytes, map[string]*string{"authenticationCode": &code, "callerPhone": &callerPhone})
	if err != nil {
		authcode.WriteError(w, devBodyError(err, `{"authenticationCode": "LHv1_…"}`))
		return
	}
	if callerPhone == "" {
		if id, err := d.sessions.Authenticate(r); err == nil {
			callerPhone = id.Phone
		}
	}
	body, err := jsonMarshalRedeem(code, callerPhone)
	if err != nil {
		authcode.WriteError(w, err)
		return
	}

	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, d.emulatorURL+"/emulator/v1/redeem", bytes.NewReader(body))
	if err != nil {
		authcode.WriteError(w, err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.httpClient.Do(req)
	if err != nil {
		d.logger.WarnContext(r.Context(), "dev redeem failed", "request_id", requestid.FromContext(r.Context()), "error", err)
		authcode.WriteError(w, &authcode.Error{Code: authcode.CodeLiveHubUnavailable, Message: "The emulator could not be reached.", RetryAfter: time.Second})
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxRedeemResponse))

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	w.Write(answer)
}

// jsonMarshalRedeem builds the emulator's redeem request body.
func jsonMarshalRedeem(code, callerPhone string) ([]byte, error) {
	type redeemRequest struct {
		AuthenticationCode string `json:"authenticationCode"`
		CallerPhone        string `json:"callerPhone,omitempty"`
	}
	return json.Marshal(redeemRequest{AuthenticationCode: code, CallerPhone: callerPhone})
}

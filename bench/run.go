package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Target names, as the report shows them.
const (
	nameBaseline = "baseline"
	nameC2cauth  = "c2cauth"
	nameFloor    = "emulator alone"
)

// stack is the running emulators and backends. Each target has its own
// emulator, so that the token requests of each backend are counted apart.
type stack struct {
	emulators map[string]*emulatorServer
	backends  []*backendProcess // c2cauth, then the baseline
	token     string            // the visitor's bearer token
	logPath   string
	// floorToken is an access token of the floor's emulator, for requests
	// straight to its generate endpoint.
	floorToken string
}

// startStack builds c2cauth unless a binary was given, and starts the
// emulators and both backends.
func startStack(ctx context.Context, s settings, dir string, progress func(string, ...any)) (_ *stack, err error) {
	st := &stack{emulators: make(map[string]*emulatorServer), logPath: filepath.Join(dir, "c2cauth.log")}
	defer func() {
		if err != nil {
			st.close()
		}
	}()

	bin := s.c2cauthBinary
	if bin == "" {
		progress("building ./cmd/c2cauth")
		if bin, err = buildC2cauth(ctx, dir, os.Stderr); err != nil {
			return nil, err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the bench binary to run the baseline: %w", err)
	}
	var keyFile string
	keyFile, st.token, err = writeSigningKey(dir, time.Now(), tokenLifetime)
	if err != nil {
		return nil, err
	}

	for _, name := range []string{nameC2cauth, nameBaseline, nameFloor} {
		em, err := startEmulator()
		if err != nil {
			return nil, err
		}
		st.emulators[name] = em
	}
	if st.floorToken, err = fetchAccessToken(ctx, st.emulators[nameFloor].url); err != nil {
		return nil, err
	}

	logFile, err := os.Create(st.logPath)
	if err != nil {
		return nil, fmt.Errorf("create the c2cauth log: %w", err)
	}
	// The child process holds its own copy of the descriptor.
	defer logFile.Close()

	progress("starting c2cauth serve and the baseline")
	args := c2cauthArgs(st.emulators[nameC2cauth].url, keyFile)
	if s.cpuProfile != "" {
		args = append(args, "--admin-listen", "127.0.0.1:0", "--pprof")
	}
	c2cauth, err := startBackend(ctx, nameC2cauth, bin, args, childEnv(), logFile)
	if err != nil {
		return nil, err
	}
	st.backends = append(st.backends, c2cauth)
	baselineArgs := []string{baselineCommand, "--listen", "127.0.0.1:0", "--livehub-url", st.emulators[nameBaseline].url,
		"--client-id", clientID, "--sip-connection", sipConnectionID}
	baseline, err := startBackend(ctx, nameBaseline, self, baselineArgs, childEnv(), os.Stderr)
	if err != nil {
		return nil, err
	}
	st.backends = append(st.backends, baseline)
	return st, nil
}

// c2cauthArgs returns the options of `c2cauth serve` as a production site
// sets them, with limits too high to be reached.
func c2cauthArgs(liveHubURL, keyFile string) []string {
	return []string{
		"serve",
		"--listen", "127.0.0.1:0",
		"--livehub-url", liveHubURL,
		"--client-id", clientID,
		"--sip-connection", sipConnectionID,
		"--auth", "jwt",
		"--jwt-key-file", keyFile,
		"--jwt-issuer", jwtIssuer,
		"--jwt-audience", jwtAudience,
		"--allowed-origins", siteOrigin,
		"--limit-user", "1000000/1s",
		"--limit-ip", "1000000/1s",
		"--limit-global", "1000000/1s",
		"--caller-phone", "off",
		"--log-format", "json",
	}
}

// childEnv returns the environment of the backends: the client secret, and
// the Go runtime settings of this process, so that both backends run
// under the same ones. Nothing else is passed, so that no C2CAUTH_ or
// LIVEHUB_ variable of the caller changes the configuration.
func childEnv() []string {
	env := []string{"LIVEHUB_CLIENT_SECRET=" + clientSecret}
	for _, name := range []string{"PATH", "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG"} {
		if value, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+value)
		}
	}
	return env
}

// fetchAccessToken obtains an access token from the emulator at baseURL.
func fetchAccessToken(ctx context.Context, baseURL string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {clientSecret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch an emulator access token: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("fetch an emulator access token: status %d, error %v", resp.StatusCode, err)
	}
	return body.AccessToken, nil
}

func (st *stack) close() {
	for _, p := range st.backends {
		p.stop()
	}
	for _, em := range st.emulators {
		em.close()
	}
}

// backendTarget returns the auth-code endpoint of backend p.
func (st *stack) backendTarget(p *backendProcess) target {
	t := target{name: p.name, url: p.url + "/v1/auth-code", header: browserHeader(st.token), body: []byte(`{}`), pid: p.pid()}
	for _, other := range st.backends {
		if other != p {
			t.others = append(t.others, other.pid())
		}
	}
	return t
}

// floorTarget returns the generate endpoint of the floor's emulator: the
// Live Hub round trip with no backend in front of it.
func (st *stack) floorTarget() target {
	t := target{
		name: nameFloor,
		url:  st.emulators[nameFloor].url + "/api/v1/sipConnections/" + sipConnectionID + "/generateAuthenticationCode",
		header: http.Header{
			"Content-Type":  {"application/json"},
			"Authorization": {"Bearer " + st.floorToken},
		},
		body: []byte(`{}`),
	}
	for _, p := range st.backends {
		t.others = append(t.others, p.pid())
	}
	return t
}

// measure checks one request on each target, warms the backends up, and
// runs the rounds: first a closed-loop run of each backend, then each
// fixed rate on every target. The targets alternate run by run, and every
// second round takes them in reverse order, so that a slow drift of the
// machine's speed affects all alike.
func (st *stack) measure(ctx context.Context, s settings, r *report, progress func(string, ...any)) error {
	backends := []target{st.backendTarget(st.backends[0]), st.backendTarget(st.backends[1])}
	all := append(slices.Clone(backends), st.floorTarget())
	for _, t := range all {
		if err := checkOne(ctx, t); err != nil {
			return err
		}
	}
	for _, t := range backends {
		progress("warming up %s for %s at %d requests a second", t.name, s.warmup, s.rates[0])
		if _, err := attack(ctx, t, attackSpec{rate: s.rates[0], workers: 10, duration: s.warmup}); err != nil {
			return err
		}
	}

	for round := range s.rounds {
		runs := []struct {
			spec    attackSpec
			targets []target
		}{{attackSpec{rate: 0, workers: s.workers, duration: s.maxDuration}, backends}}
		for _, rate := range s.rates {
			runs = append(runs, struct {
				spec    attackSpec
				targets []target
			}{attackSpec{rate: rate, workers: 10, duration: s.fixedDuration}, all})
		}
		for _, run := range runs {
			order := slices.Clone(run.targets)
			if round%2 == 1 {
				slices.Reverse(order)
			}
			for _, t := range order {
				if err := sleep(ctx, s.pause); err != nil {
					return err
				}
				var profiled chan error
				if s.cpuProfile != "" && round == 0 && run.spec.rate == 0 && t.name == nameC2cauth {
					profiled = make(chan error, 1)
					go func() { profiled <- st.profileC2cauth(ctx, s.cpuProfile, run.spec.duration) }()
				}
				res, err := attack(ctx, t, run.spec)
				if profiled != nil {
					if perr := <-profiled; perr != nil {
						return perr
					}
					progress("wrote c2cauth's CPU profile to %s", s.cpuProfile)
				}
				if err != nil {
					return err
				}
				progress("round %d/%d: %s", round+1, s.rounds, res.summary())
				r.add(res)
			}
		}
	}
	return nil
}

// profileC2cauth records a CPU profile of c2cauth for most of a run of the
// given duration, from its admin listener, and writes it to path.
func (st *stack) profileC2cauth(ctx context.Context, path string, run time.Duration) error {
	var admin string
	select {
	case admin = <-st.backends[0].admin:
	case <-time.After(startTimeout):
		return errors.New("c2cauth printed no admin listener for the CPU profile")
	case <-ctx.Done():
		return ctx.Err()
	}

	seconds := max(1, int((run - time.Second).Seconds()))
	ctx, cancel := context.WithTimeout(ctx, run+10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", admin, seconds), nil)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("CPU profile: c2cauth responded with %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("CPU profile: %w", err)
	}
	return f.Close()
}

// checkOne sends one request to t, which must return a code.
func checkOne(ctx context.Context, t target) error {
	res, err := attack(ctx, t, attackSpec{rate: 1, workers: 1, duration: time.Millisecond})
	if err != nil {
		return err
	}
	if res.ok != 1 {
		return fmt.Errorf("%s returned no code for a valid request: %v; its log may tell why", t.name, res.failures)
	}
	return nil
}

// inspect reads what the backends hold after the runs: token requests,
// peak memory, goroutines, the metrics page and the log.
func (st *stack) inspect(ctx context.Context, r *report, progress func(string, ...any)) error {
	if err := sleep(ctx, settleTime); err != nil {
		return err
	}
	for _, p := range st.backends {
		stats := st.emulators[p.name].emulator.Stats()
		rss, err := peakRSS(p.pid())
		if err != nil {
			return err
		}
		res := resources{tokenRequests: stats.TokenRequests, generateRequests: stats.GenerateRequests, peakRSS: rss}

		path := goroutinesPath
		if p.name == nameC2cauth {
			path = "/metrics"
		}
		res.goroutinesSource = path
		res.goroutines, res.scrapeBytes, res.scrapeErr = scrapeGoroutines(ctx, p.url+path)
		if res.scrapeErr != nil {
			progress("%v", res.scrapeErr)
		}
		r.resources[p.name] = res
	}

	var err error
	r.log, err = readLogSummary(st.logPath)
	return err
}

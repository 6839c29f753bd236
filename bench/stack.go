package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/c2cauth/c2cauth/emulator"
)

// The Live Hub credentials and identities of the benchmark. Both backends
// use the same ones.
const (
	clientID        = "bench-client"
	clientSecret    = "bench-secret"
	sipConnectionID = "f399069f-e84f-41e4-ac71-fab2ded73f1c"
	siteOrigin      = "https://www.example.com"
	jwtIssuer       = "https://idp.example.com"
	jwtAudience     = "c2cauth"
	benchUser       = "bench-user"
)

// emulatorTokenTTL is the access token lifetime the emulator grants. It is
// longer than any run, so each backend must fetch exactly one token.
const emulatorTokenTTL = time.Hour

// Process timeouts.
const (
	startTimeout = 30 * time.Second // until a backend prints its URL
	stopTimeout  = 10 * time.Second // from SIGTERM until SIGKILL
)

// clockTicksPerSecond is the unit of the CPU times in /proc/PID/stat.
// Linux fixes this USER_HZ at 100 for user space on every architecture Go
// runs on.
const clockTicksPerSecond = 100

// listeningPattern finds the URL in the line a backend prints when it
// listens, and adminPattern the URL of c2cauth's admin listener.
var (
	listeningPattern = regexp.MustCompile(`listening on (http://\S+)`)
	adminPattern     = regexp.MustCompile(`admin endpoints listening on (http://\S+)`)
)

// emulatorServer is a Live Hub emulator served on a loopback port.
type emulatorServer struct {
	emulator *emulator.Emulator
	server   *http.Server
	url      string
}

// startEmulator serves a new emulator on 127.0.0.1 with a long token
// lifetime and the default code lifetime.
func startEmulator() (*emulatorServer, error) {
	em := emulator.New(emulator.Config{
		ClientID:       clientID,
		ClientSecret:   clientSecret,
		SIPConnections: []string{sipConnectionID},
		TokenTTL:       emulatorTokenTTL,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the emulator: %w", err)
	}
	srv := &http.Server{Handler: em, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return &emulatorServer{emulator: em, server: srv, url: "http://" + ln.Addr().String()}, nil
}

func (s *emulatorServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	s.server.Shutdown(ctx)
}

// writeSigningKey creates an ES256 key pair, writes the public key as PEM
// to dir, and returns the file's path with a bearer token that the key
// signs and that stays valid for lifetime.
func writeSigningKey(dir string, now time.Time, lifetime time.Duration) (keyFile, token string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", fmt.Errorf("encode public key: %w", err)
	}
	keyFile = filepath.Join(dir, "jwt-public-key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		return "", "", fmt.Errorf("write public key: %w", err)
	}

	claims := jwt.RegisteredClaims{
		Issuer:    jwtIssuer,
		Audience:  jwt.ClaimStrings{jwtAudience},
		Subject:   benchUser,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(lifetime)),
	}
	token, err = jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(key)
	if err != nil {
		return "", "", fmt.Errorf("sign bearer token: %w", err)
	}
	return keyFile, token, nil
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root with go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("find the module root: the working directory is outside a Go module; run the benchmark from the c2cauth repository")
	}
	return filepath.Dir(gomod), nil
}

// buildC2cauth builds ./cmd/c2cauth of the module into dir and returns the
// binary's path.
func buildC2cauth(ctx context.Context, dir string, stderr io.Writer) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "c2cauth")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/c2cauth")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build ./cmd/c2cauth in %q: %w", root, err)
	}
	return bin, nil
}

// backendProcess is a backend running as a child process.
type backendProcess struct {
	name string
	cmd  *exec.Cmd
	url  string // base URL, as the process printed it
	// admin receives the base URL of c2cauth's admin listener, when the
	// process prints one.
	admin chan string
	done  chan struct{} // closed when the process has exited
	err   error         // the exit error, set before done is closed
}

// startBackend runs path with args and env, sends its standard error to
// logs, and returns once it has printed the URL it listens on.
func startBackend(ctx context.Context, name, path string, args, env []string, logs io.Writer) (*backendProcess, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}

	p := &backendProcess{name: name, cmd: cmd, done: make(chan struct{}), admin: make(chan string, 1)}
	urls := make(chan string, 1)
	go func() {
		// Wait may only be called once stdout has been read to the end.
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			if m := adminPattern.FindStringSubmatch(scanner.Text()); m != nil {
				select {
				case p.admin <- m[1]:
				default:
				}
				continue
			}
			if m := listeningPattern.FindStringSubmatch(scanner.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case p.url = <-urls:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before it listened: %w", name, p.err)
	case <-timer.C:
		p.stop()
		return nil, fmt.Errorf("%s printed no URL within %s", name, startTimeout)
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

// pid returns the process ID.
func (p *backendProcess) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM, and SIGKILL when the process has not exited within
// stopTimeout.
func (p *backendProcess) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		p.cmd.Process.Kill()
		<-p.done
	}
}

// peakRSS returns a process's peak resident set size (VmHWM) in bytes.
func peakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read peak RSS: %w", err)
	}
	for line := range strings.Lines(string(data)) {
		value, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read peak RSS: invalid VmHWM %q", strings.TrimSpace(value))
		}
		return kib << 10, nil
	}
	return 0, fmt.Errorf("read peak RSS: /proc/%d/status has no VmHWM", pid)
}

// cpuTime returns the user and system CPU time that a process has used.
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time: %w", err)
	}
	// The command name in brackets may contain spaces, so the fields are
	// counted from its closing bracket: utime and stime are the 12th and
	// 13th after it (fields 14 and 15 of proc(5)).
	end := strings.LastIndexByte(string(data), ')')
	if end < 0 {
		return 0, fmt.Errorf("read CPU time: /proc/%d/stat is malformed", pid)
	}
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("read CPU time: /proc/%d/stat is malformed", pid)
	}
	var ticks int64
	for _, field := range fields[11:13] {
		n, err := strconv.ParseInt(field, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read CPU time: invalid field %q in /proc/%d/stat", field, pid)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicksPerSecond, nil
}

// cpuSample is a reading of the CPU time that the whole machine and some
// processes have used.
type cpuSample struct {
	machine   time.Duration   // busy time of all cores together
	processes []time.Duration // of each process, in the order of the pids given
}

// others returns the machine's busy time that none of the processes used.
func (s cpuSample) others() time.Duration {
	rest := s.machine
	for _, p := range s.processes {
		rest -= p
	}
	return rest
}

// readCPU reads the machine's busy time from /proc/stat and that of each
// process in pids.
func readCPU(pids []int) (cpuSample, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}, fmt.Errorf("read machine CPU time: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return cpuSample{}, errors.New("read machine CPU time: /proc/stat does not start with the cpu line")
	}

	// Busy time is user, nice, system, irq, softirq and steal: every
	// field but idle and iowait. Guest time is already part of user.
	var ticks int64
	for i, field := range fields[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(field, 10, 64)
		if err != nil {
			return cpuSample{}, fmt.Errorf("read machine CPU time: invalid field %q in /proc/stat", field)
		}
		ticks += n
	}

	s := cpuSample{machine: time.Duration(ticks) * time.Second / clockTicksPerSecond}
	for _, pid := range pids {
		d, err := cpuTime(pid)
		if err != nil {
			return cpuSample{}, err
		}
		s.processes = append(s.processes, d)
	}
	return s, nil
}

// scrapeGoroutines fetches a Prometheus text page and returns its
// go_goroutines sample and the page's size.
func scrapeGoroutines(ctx context.Context, url string) (goroutines, size int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, 0, fmt.Errorf("scrape %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, len(body), fmt.Errorf("scrape %s: status %d", url, resp.StatusCode)
	}

	for line := range strings.Lines(string(body)) {
		value, ok := strings.CutPrefix(line, "go_goroutines ")
		if !ok {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return 0, len(body), fmt.Errorf("scrape %s: invalid go_goroutines %q", url, strings.TrimSpace(value))
		}
		return int(n), len(body), nil
	}
	return 0, len(body), fmt.Errorf("scrape %s: no go_goroutines sample", url)
}

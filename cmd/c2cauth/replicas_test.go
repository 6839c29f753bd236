package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
	"github.com/c2cauth/c2cauth/internal/redistest"
)

// redisServer is a redis-server process of the test's own, so that a test
// can stop and restart it without disturbing other users of Redis.
type redisServer struct {
	path string
	port int
	cmd  *exec.Cmd
}

// startRedis starts a private redis-server on a free loopback port. Without
// redis-server the test is skipped, except in CI, where .ci/run installs it.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &redisServer{path: path, port: port}
	r.start(t)
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command(r.path, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port))
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not start on port %d", r.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisServer) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

// startReplicas runs n `c2cauth serve` processes that share redisURL, and
// returns their URLs. Each trusts the loopback peer's identity headers, so a
// test names its user with X-Auth-Request-User.
func startReplicas(t *testing.T, n int, em *emulatortest.Server, redisURL string, extra ...string) []string {
	t.Helper()
	prefix := make([]byte, 6)
	rand.Read(prefix)
	var urls []string
	for range n {
		args := append([]string{"serve", "--listen", "127.0.0.1:0",
			"--auth", "header", "--trusted-proxies", "127.0.0.1",
			"--caller-phone", "off", "--limit-ip", "off", "--limit-global", "off",
			"--redis-url", redisURL, "--redis-key-prefix", "c2cauth-test-" + hex.EncodeToString(prefix) + ":",
		}, liveHubArgs(em)...)
		p := start(t, map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret}, append(args, extra...)...)
		urls = append(urls, p.waitFor(t, `listening on (http://127\.0\.0\.1:\d+)`)[1])
	}
	return urls
}

// askAs sends one code request as user and returns the status.
func askAs(t *testing.T, backendURL, user string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, backendURL+"/v1/auth-code", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Auth-Request-User", user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestReplicasShareUserLimit(t *testing.T) {
	redis := startRedis(t)
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	replicas := startReplicas(t, 3, em, redis.url(), "--limit-user", "10/1m")

	counts := map[int]int{}
	for i := range 30 {
		counts[askAs(t, replicas[i%3], "alice")]++
	}
	if counts[http.StatusOK] != 10 || counts[http.StatusTooManyRequests] != 20 {
		t.Errorf("got %v, want exactly 10 codes and 20 answers of 429", counts)
	}
}

func TestReplicasShareOneToken(t *testing.T) {
	redis := startRedis(t)
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	replicas := startReplicas(t, 3, em, redis.url(), "--limit-user", "off")

	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := range 300 {
		wg.Go(func() {
			if askAs(t, replicas[i%3], fmt.Sprintf("user-%d", i)) == http.StatusOK {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if got := ok.Load(); got != 300 {
		t.Errorf("%d of 300 requests got a code, want all", got)
	}
	if got := em.Emulator.Stats().TokenRequests; got != 1 {
		t.Errorf("three replicas made %d token requests, want 1", got)
	}

	em.Emulator.RevokeTokens()
	before := em.Emulator.Stats().TokenRequests
	for i, replica := range replicas {
		if status := askAs(t, replica, "after-revocation"); status != http.StatusOK {
			t.Errorf("replica %d after revocation: got %d, want 200", i, status)
		}
	}
	if got := em.Emulator.Stats().TokenRequests - before; got > 2 {
		t.Errorf("the replicas made %d token requests to recover, want at most 2", got)
	}
}

func TestRedisOutage(t *testing.T) {
	redis := startRedis(t)
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	closed := startReplicas(t, 1, em, redis.url(), "--limit-user", "1000/1m")[0]
	open := startReplicas(t, 1, em, redis.url(), "--limit-user", "1000/1m", "--limit-redis-failure", "open")[0]
	if askAs(t, closed, "alice") != http.StatusOK || askAs(t, open, "alice") != http.StatusOK {
		t.Fatal("requests failed before the outage")
	}

	redis.stop()
	if status := askAs(t, closed, "alice"); status != http.StatusServiceUnavailable {
		t.Errorf("fail closed while Redis is down: got %d, want 503", status)
	}
	if status := askAs(t, open, "alice"); status != http.StatusOK {
		t.Errorf("fail open while Redis is down: got %d, want 200", status)
	}

	redis.start(t)
	back := time.Now()
	for askAs(t, closed, "alice") != http.StatusOK {
		if time.Since(back) > 2*time.Second {
			t.Fatal("no normal service 2 s after Redis returned")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCheckPingsRedis(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	r := startRedis(t)
	env := map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret}
	args := append([]string{"check", "--auth", "none"}, liveHubArgs(em)...)

	code, stdout, _ := runOnce(t, env, append(args, "--redis-url", r.url())...)
	if code != 0 || !strings.Contains(stdout, "redis: responded to PING at "+r.url()) {
		t.Errorf("Redis up: got exit code %d and output %q, want 0 and a PING line", code, stdout)
	}

	closed := "redis://:hunter2@" + redistest.ClosedAddr(t) + "/0"
	code, stdout, _ = runOnce(t, env, append(args, "--redis-url", closed)...)
	if code != 1 || !strings.Contains(stdout, "redis: FAILED: ") {
		t.Errorf("Redis down: got exit code %d and output %q, want 1 and a FAILED line", code, stdout)
	}
	if strings.Contains(stdout, "hunter2") {
		t.Errorf("Redis down: output shows the password: %q", stdout)
	}
	if !strings.Contains(stdout, "access token: obtained") {
		t.Errorf("Redis down: output %q does not go on to the access token", stdout)
	}
}

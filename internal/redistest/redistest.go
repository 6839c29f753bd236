// Package redistest gives tests a Redis to work with: the server named by
// C2CAUTH_TEST_REDIS_URL (by default 127.0.0.1:6379), a random key prefix
// per test, and a proxy that can cut the connection to play a Redis that
// goes away.
package redistest

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultURL is the test Redis when C2CAUTH_TEST_REDIS_URL is empty.
const DefaultURL = "redis://127.0.0.1:6379/0"

// Options returns the options of the test Redis, from
// C2CAUTH_TEST_REDIS_URL or DefaultURL. It skips the test when that
// Redis does not reply to PING, unless CI is set, where a missing Redis
// fails it.
func Options(t *testing.T) *redis.Options {
	t.Helper()
	url := os.Getenv("C2CAUTH_TEST_REDIS_URL")
	if url == "" {
		url = DefaultURL
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("C2CAUTH_TEST_REDIS_URL: %v", err)
	}

	probe := redis.NewClient(opts)
	defer probe.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := probe.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Redis at %s did not reply to PING: %v", url, err)
		}
		t.Skipf("Redis at %s did not reply to PING, so the test is skipped: %v", url, err)
	}
	return opts
}

// NewClient returns a client of the test Redis that is closed when the test
// ends.
func NewClient(t *testing.T, opts *redis.Options) *redis.Client {
	t.Helper()
	client := redis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	return client
}

// NewPrefix returns a random key prefix for one test and deletes every key
// under it when the test ends.
func NewPrefix(t *testing.T, opts *redis.Options) string {
	t.Helper()
	prefix := "c2cauth-test:" + rand.Text() + ":"
	t.Cleanup(func() {
		client := redis.NewClient(opts)
		defer client.Close()
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("delete test keys: %v", err)
		}
	})
	return prefix
}

// Proxy forwards TCP connections from a loopback listener to a target
// address, and can be cut and restored to play a Redis that goes away and
// comes back.
type Proxy struct {
	t        *testing.T
	listener net.Listener
	target   string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}

	wg sync.WaitGroup
}

// StartProxy starts a proxy to target on 127.0.0.1 and a free port, which is
// closed when the test ends.
func StartProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, listener: listener, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Addr returns the proxy's address.
func (p *Proxy) Addr() string { return p.listener.Addr().String() }

// Cut closes every forwarded connection and closes new ones at once, as a
// Redis that went away would.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for conn := range p.conns {
		conn.Close()
	}
}

// Restore forwards new connections again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

func (p *Proxy) close() {
	p.listener.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.forward(client) })
	}
}

// forward copies bytes both ways between client and a new connection to the
// target until either side closes.
func (p *Proxy) forward(client net.Conn) {
	p.mu.Lock()
	cut := p.cut
	p.mu.Unlock()
	if cut {
		client.Close()
		return
	}
	server, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(client, server) {
		client.Close()
		server.Close()
		return
	}

	var copies sync.WaitGroup
	copies.Go(func() {
		io.Copy(server, client)
		server.Close()
	})
	copies.Go(func() {
		io.Copy(client, server)
		client.Close()
	})
	copies.Wait()

	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// track records a forwarded pair of connections, unless the proxy was cut
// meanwhile.
func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	for _, conn := range conns {
		p.conns[conn] = struct{}{}
	}
	return true
}

// ClosedAddr returns a loopback address where nothing listens.
func ClosedAddr(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	listener.Close()
	return addr
}

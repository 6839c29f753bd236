package redistoken_test

import (
	"context"
	"crypto/rand"
	"net"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// The tests need a Redis server, by default 127.0.0.1:6379. Each test keeps
// its keys under a random prefix and deletes them when it ends.
const defaultRedisURL = "redis://127.0.0.1:6379/0"

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// redisOptions returns the options of the test Redis, from
// C2CAUTH_TEST_REDIS_URL or defaultRedisURL. It skips the test when that
// Redis does not reply to PING, unless CI is set, where a missing Redis
// fails it.
func redisOptions(t *testing.T) *redis.Options {
	t.Helper()
	url := os.Getenv("C2CAUTH_TEST_REDIS_URL")
	if url == "" {
		url = defaultRedisURL
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

// newClient returns a client of the test Redis that is closed when the test
// ends.
func newClient(t *testing.T, opts *redis.Options) *redis.Client {
	t.Helper()
	client := redis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	return client
}

// newPrefix returns a random key prefix for one test and deletes every key
// under it when the test ends.
func newPrefix(t *testing.T, opts *redis.Options) string {
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

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	listener.Close()
	return addr
}

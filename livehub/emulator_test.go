package livehub_test

import (
	"context"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
	"github.com/c2cauth/c2cauth/livehub"
)

// TestTokenRefreshAgainstEmulator runs the client against the real emulator
// with one injected clock for both, so the emulator rejects any token used
// at or after its expiry with 401.
func TestTokenRefreshAgainstEmulator(t *testing.T) {
	clock := newFakeClock()
	em := emulatortest.NewServer(emulator.Config{TokenTTL: 900 * time.Second, Now: clock.Now})
	defer em.Close()
	client := &livehub.Client{BaseURL: em.URL, ClientID: em.ClientID, ClientSecret: em.ClientSecret, Now: clock.Now}

	// The second token is fetched in the background at 675 s, three
	// quarters of 900 s, and the third at 675 s + 675 s.
	steps := []struct {
		at         time.Duration // since the first token was issued
		wantTokens int64
	}{
		{0, 1},
		{10 * time.Minute, 1},
		{674 * time.Second, 1},
		{675 * time.Second, 2},
		{899 * time.Second, 2},
		{900 * time.Second, 2},
		{1349 * time.Second, 2},
		{1350 * time.Second, 3},
		{1351 * time.Second, 3},
	}
	start := clock.Now()
	for _, step := range steps {
		clock.Advance(start.Add(step.at).Sub(clock.Now()))
		if _, err := client.GenerateAuthenticationCode(context.Background(), em.SIPConnection, ""); err != nil {
			t.Fatalf("at %s: %v", step.at, err)
		}
		livehub.WaitForTokenFetch(client)
		stats := em.Emulator.Stats()
		if stats.TokenRequests != step.wantTokens {
			t.Errorf("at %s: got %d token requests, want %d", step.at, stats.TokenRequests, step.wantTokens)
		}
	}
	// A token used after its expiry would have drawn a 401 and a retry,
	// which shows as more generate requests than codes.
	if stats := em.Emulator.Stats(); stats.GenerateRequests != stats.CodesIssued {
		t.Errorf("got %d generate requests for %d codes; an expired token was used", stats.GenerateRequests, stats.CodesIssued)
	}
}

func TestSetClientSecret(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	defer em.Close()
	client := &livehub.Client{BaseURL: em.URL, ClientID: em.ClientID, ClientSecret: em.ClientSecret}
	ctx := context.Background()
	if _, err := client.GenerateAuthenticationCode(ctx, em.SIPConnection, ""); err != nil {
		t.Fatal(err)
	}

	// Live Hub's secret changes. The cached token still works, and the new
	// secret is used once the client must fetch a token again.
	em.Emulator.SetClientSecret("rotated-secret")
	if _, err := client.GenerateAuthenticationCode(ctx, em.SIPConnection, ""); err != nil {
		t.Fatalf("with the cached token: %v", err)
	}
	client.InvalidateToken()
	if err := client.Ready(ctx); !livehub.IsUnauthorized(err) {
		t.Fatalf("with the old secret: got %v, want an unauthorized error", err)
	}

	client.SetClientSecret("rotated-secret")
	client.InvalidateToken()
	if _, err := client.GenerateAuthenticationCode(ctx, em.SIPConnection, ""); err != nil {
		t.Fatalf("with the new secret: %v", err)
	}
}

package devsession_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/identity/devsession"
)

// signIn returns the cookie that m sets for id.
func signIn(t *testing.T, m *devsession.Manager, id identity.Identity) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := m.SignIn(rec, id); err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("got %d cookies, want 1", len(cookies))
	}
	return cookies[0]
}

func requestWith(cookie *http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	return r
}

func TestSessionRoundTrip(t *testing.T) {
	m, err := devsession.New()
	if err != nil {
		t.Fatal(err)
	}
	want := identity.Identity{UserID: "alice", Phone: "+14155550100"}
	cookie := signIn(t, m, want)
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie HttpOnly=%v SameSite=%v, want HttpOnly and Strict", cookie.HttpOnly, cookie.SameSite)
	}

	got, err := m.Authenticate(requestWith(cookie))
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if got != want {
		t.Errorf("got identity %+v, want %+v", got, want)
	}
}

func TestSessionRejected(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m, err := devsession.New()
	if err != nil {
		t.Fatal(err)
	}
	m.Now = func() time.Time { return now }
	good := signIn(t, m, identity.Identity{UserID: "alice"})

	other, err := devsession.New()
	if err != nil {
		t.Fatal(err)
	}
	foreign := signIn(t, other, identity.Identity{UserID: "alice"})

	payload, signature, _ := strings.Cut(good.Value, ".")
	tampered := *good
	tampered.Value = payload + "x." + signature

	tests := []struct {
		name   string
		cookie *http.Cookie
		at     time.Time
	}{
		{"no cookie", nil, now},
		{"other key", foreign, now},
		{"tampered", &tampered, now},
		{"no signature", &http.Cookie{Name: devsession.CookieName, Value: payload}, now},
		{"garbage", &http.Cookie{Name: devsession.CookieName, Value: "%%%.%%%"}, now},
		{"expired", good, now.Add(devsession.DefaultTTL)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := tt.at
			m.Now = func() time.Time { return at }
			_, err := m.Authenticate(requestWith(tt.cookie))
			if !errors.Is(err, identity.ErrUnauthenticated) {
				t.Errorf("got error %v, want ErrUnauthenticated", err)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	m, err := devsession.New()
	if err != nil {
		t.Fatal(err)
	}
	want := identity.Identity{UserID: "bob", Phone: "+442079460018"}
	token, _, err := m.Token(want)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name          string
		authorization string
		ok            bool
	}{
		{"bearer", "Bearer " + token, true},
		{"lowercase scheme", "bearer " + token, true},
		{"basic", "Basic " + token, false},
		{"no scheme", token, false},
		{"tampered", "Bearer " + token + "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", nil)
			r.Header.Set("Authorization", tt.authorization)
			got, err := m.Authenticate(r)
			if tt.ok && (err != nil || got != want) {
				t.Errorf("got %+v, %v, want %+v", got, err, want)
			}
			if !tt.ok && !errors.Is(err, identity.ErrUnauthenticated) {
				t.Errorf("got error %v, want ErrUnauthenticated", err)
			}
		})
	}
}

func TestSignOutClearsCookie(t *testing.T) {
	m, err := devsession.New()
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.SignOut(rec)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].MaxAge >= 0 || cookies[0].Value != "" {
		t.Fatalf("got cookies %+v, want one expired empty cookie", cookies)
	}
}

func FuzzSessionCookie(f *testing.F) {
	m, err := devsession.New()
	if err != nil {
		f.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := m.SignIn(rec, identity.Identity{UserID: "alice", Phone: "+14155550100"}); err != nil {
		f.Fatal(err)
	}
	f.Add(rec.Result().Cookies()[0].Value)
	f.Add("")
	f.Add(".")
	f.Add("e30.")
	f.Fuzz(func(t *testing.T, value string) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("Cookie", devsession.CookieName+"="+value)
		id, err := m.Authenticate(r)
		if err == nil && id.UserID != "alice" {
			t.Errorf("cookie %q signed in as %q without a valid signature", value, id.UserID)
		}
		if err != nil && !errors.Is(err, identity.ErrUnauthenticated) {
			t.Errorf("cookie %q: got error %v, want ErrUnauthenticated", value, err)
		}
	})
}

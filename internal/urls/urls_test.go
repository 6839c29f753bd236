package urls_test

import (
	"net/url"
	"testing"

	"github.com/c2cauth/c2cauth/internal/urls"
)

func TestEcho(t *testing.T) {
	tests := []struct {
		raw  string
		want string
	}{
		{raw: "not a url", want: "not a url"},
		{raw: "https://site.example/a b?x=1", want: "https://site.example/a b"},
		{raw: "http://idp.example/jwks?key=s3cret#top", want: "http://idp.example/jwks#top"},
		{raw: "http://idp.example/jwks#a?b", want: "http://idp.example/jwks#a?b"},
		{raw: "ftp://user:pa55word@site.example/session", want: "ftp://user:xxxxx@site.example/session"},
		{raw: "ftp://user:pa55@word@site example/", want: "ftp://user:xxxxx@site example/"},
		{raw: "https://user@site.example/", want: "https://user@site.example/"},
		{raw: "//user:pa55word@site.example", want: "//user:xxxxx@site.example"},
		{raw: "https://site.example/path?next=//a:b@c", want: "https://site.example/path"},
		{raw: "/relative//a:b@c", want: "/relative//a:b@c"},
		{raw: "", want: ""},
	}
	for _, tt := range tests {
		if got := urls.Echo(tt.raw); got != tt.want {
			t.Errorf("Echo(%q): got %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestEchoHidesPasswordThatParseFinds(t *testing.T) {
	for _, raw := range []string{
		"https://user:pa55word@site.example/session",
		"http://a:pa55word@b@site.example:8080?q=1#f",
		"ftp://:pa55word@site.example",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		password, _ := u.User.Password()
		if password == "" {
			t.Fatalf("url.Parse(%q) found no password", raw)
		}
		if got := urls.Echo(raw); got == raw {
			t.Errorf("Echo(%q): got it unchanged, want the password %q hidden", raw, password)
		}
	}
}

func TestWithoutSecrets(t *testing.T) {
	u, err := url.Parse("https://user:pa55word@idp.example.com:8443/keys/jwks.json?client=s3cret#frag")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := urls.WithoutSecrets(u), "https://idp.example.com:8443/keys/jwks.json"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if u.RawQuery == "" || u.User == nil {
		t.Error("WithoutSecrets changed its argument")
	}
}

func TestIsLoopbackHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LocalHost", true},
		{"127.0.0.1", true},
		{"127.8.9.10", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"10.0.0.1", false},
		{"0.0.0.0", false},
		{"auth.default.svc", false},
		{"localhost.example.com", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := urls.IsLoopbackHost(tt.host); got != tt.want {
			t.Errorf("IsLoopbackHost(%q): got %t, want %t", tt.host, got, tt.want)
		}
	}
}

package ratelimit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/ratelimit"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want ratelimit.Rate
	}{
		{"5/1m", ratelimit.Rate{Limit: 5, Period: time.Minute}},
		{"100/1s", ratelimit.Rate{Limit: 100, Period: time.Second}},
		{"10/1h", ratelimit.Rate{Limit: 10, Period: time.Hour}},
		{"3/30s", ratelimit.Rate{Limit: 3, Period: 30 * time.Second}},
		{"1/1500ms", ratelimit.Rate{Limit: 1, Period: 1500 * time.Millisecond}},
		{"2/1h30m", ratelimit.Rate{Limit: 2, Period: 90 * time.Minute}},
		{" 5/1m ", ratelimit.Rate{Limit: 5, Period: time.Minute}},
		{"1000/1us", ratelimit.Rate{Limit: 1000, Period: time.Microsecond}},
		{"", ratelimit.Rate{}},
		{"0", ratelimit.Rate{}},
		{"off", ratelimit.Rate{}},
		{"OFF", ratelimit.Rate{}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ratelimit.ParseRate(tt.in)
			if err != nil {
				t.Fatalf("got error %v, want %+v", err, tt.want)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseRateErrors(t *testing.T) {
	tests := []struct {
		in     string
		reason string
	}{
		{"5", `missing "/"`},
		{"5 per minute", `missing "/"`},
		{"5/m", `did you mean "5/1m"?`},
		{"5/minute", "not a duration"},
		{"x/1m", "not a positive whole number"},
		{"0/1m", "not a positive whole number"},
		{"-5/1m", "not a positive whole number"},
		{"5.5/1m", "not a positive whole number"},
		{"/1m", "not a positive whole number"},
		{"5/", "not a duration"},
		{"5/0s", "not positive"},
		{"5/-1m", "not positive"},
		{"5/1m/2", "not a duration"},
		{"2000/1us", "more than one event per nanosecond"},
		{"none", `missing "/"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ratelimit.ParseRate(tt.in)
			if err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			msg := err.Error()
			if !strings.Contains(msg, `"`+tt.in+`"`) {
				t.Errorf("error %q does not name the value %q", msg, tt.in)
			}
			if !strings.Contains(msg, "N/DURATION") {
				t.Errorf("error %q does not give the expected form", msg)
			}
			if !strings.Contains(msg, tt.reason) {
				t.Errorf("error %q does not say %q", msg, tt.reason)
			}
		})
	}
}

func TestRateString(t *testing.T) {
	tests := []struct {
		rate ratelimit.Rate
		want string
	}{
		{ratelimit.Rate{Limit: 5, Period: time.Minute}, "5/1m"},
		{ratelimit.Rate{Limit: 10, Period: time.Hour}, "10/1h"},
		{ratelimit.Rate{Limit: 2, Period: 90 * time.Minute}, "2/90m"},
		{ratelimit.Rate{Limit: 3, Period: 30 * time.Second}, "3/30s"},
		{ratelimit.Rate{Limit: 1, Period: 1500 * time.Millisecond}, "1/1500ms"},
		{ratelimit.Rate{Limit: 1, Period: 1500 * time.Microsecond}, "1/1500us"},
		{ratelimit.Rate{Limit: 1, Period: 1001 * time.Nanosecond}, "1/1001ns"},
		{ratelimit.Rate{}, "off"},
		{ratelimit.Rate{Limit: 5}, "off"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := tt.rate.String()
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			parsed, err := ratelimit.ParseRate(got)
			if err != nil {
				t.Fatalf("ParseRate(%q): %v", got, err)
			}
			if parsed.Enabled() && parsed != tt.rate {
				t.Errorf("ParseRate(%q): got %+v, want %+v", got, parsed, tt.rate)
			}
		})
	}
}

func TestRateEnabled(t *testing.T) {
	tests := []struct {
		rate ratelimit.Rate
		want bool
	}{
		{ratelimit.Rate{Limit: 1, Period: time.Second}, true},
		{ratelimit.Rate{}, false},
		{ratelimit.Rate{Limit: 1}, false},
		{ratelimit.Rate{Period: time.Second}, false},
		{ratelimit.Rate{Limit: -1, Period: time.Second}, false},
		{ratelimit.Rate{Limit: 1, Period: -time.Second}, false},
	}
	for _, tt := range tests {
		if got := tt.rate.Enabled(); got != tt.want {
			t.Errorf("%+v: got %t, want %t", tt.rate, got, tt.want)
		}
	}
}

func TestRateInterval(t *testing.T) {
	tests := []struct {
		rate ratelimit.Rate
		want time.Duration
	}{
		{ratelimit.Rate{Limit: 5, Period: time.Minute}, 12 * time.Second},
		{ratelimit.Rate{Limit: 3, Period: time.Second}, 333333334 * time.Nanosecond},
		{ratelimit.Rate{Limit: 1, Period: time.Hour}, time.Hour},
		{ratelimit.Rate{}, 0},
	}
	for _, tt := range tests {
		if got := tt.rate.Interval(); got != tt.want {
			t.Errorf("%+v: got %v, want %v", tt.rate, got, tt.want)
		}
	}
}

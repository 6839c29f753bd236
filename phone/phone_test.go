package phone_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/c2cauth/c2cauth/phone"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		region string
		want   string
	}{
		{"e164", "+14155550100", "", "+14155550100"},
		{"spaces and dashes", "+1 415-555-0100", "", "+14155550100"},
		{"national with region", "(415) 555-0100", "US", "+14155550100"},
		{"lowercase region", "020 7946 0018", "gb", "+442079460018"},
		{"international prefix", "00442079460018", "DE", "+442079460018"},
		{"surrounding space", "  +442079460018 ", "", "+442079460018"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := phone.Normalize(tt.raw, tt.region)
			if err != nil {
				t.Fatalf("Normalize(%q, %q): %v", tt.raw, tt.region, err)
			}
			if got != tt.want {
				t.Errorf("Normalize(%q, %q) = %q, want %q", tt.raw, tt.region, got, tt.want)
			}
		})
	}
}

func TestNormalizeRejects(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		region     string
		wantReason string
	}{
		{"empty", "", "US", "empty"},
		{"national without region", "4155550100", "", "must start with +"},
		{"letters", "+call-me", "", "not a phone number"},
		{"unknown country code", "+999123456789", "", "country code"},
		{"too long", "+1" + strings.Repeat("5", 70), "", "longer than"},
		{"not in numbering plan", "+1555", "", "numbering plan"},
		{"extension", "+14155550100 ext. 12", "", "extension"},
		{"extension parameter", "+14155550100;ext=12", "", "extension"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := phone.Normalize(tt.raw, tt.region)
			if err == nil {
				t.Fatalf("Normalize(%q, %q) = %q, want an error", tt.raw, tt.region, got)
			}
			if !errors.Is(err, phone.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantReason) {
				t.Errorf("error %q does not say %q", err, tt.wantReason)
			}
		})
	}
}

func TestMask(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"+14155550100", "+1********00"},
		{"", ""},
		{"+123", "***"},
		{"14155550100", "***"},
	}
	for _, tt := range tests {
		if got := phone.Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidRegion(t *testing.T) {
	if !phone.ValidRegion("us") {
		t.Error("ValidRegion(us) = false, want true")
	}
	if phone.ValidRegion("XX") {
		t.Error("ValidRegion(XX) = true, want false")
	}
}

func FuzzNormalize(f *testing.F) {
	for _, seed := range []string{"+14155550100", "(415) 555-0100", "", "+", "00", "+999"} {
		f.Add(seed, "US")
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		got, err := phone.Normalize(raw, region)
		if err != nil {
			return
		}
		if !strings.HasPrefix(got, "+") || len(got) > 16 {
			t.Errorf("Normalize(%q, %q) = %q, not E.164", raw, region, got)
		}
	})
}

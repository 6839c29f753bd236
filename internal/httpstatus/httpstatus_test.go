package httpstatus_test

import (
	"testing"

	"github.com/c2cauth/c2cauth/internal/httpstatus"
)

func TestText(t *testing.T) {
	for code, want := range map[int]string{401: "401 Unauthorized", 503: "503 Service Unavailable", 599: "599"} {
		if got := httpstatus.Text(code); got != want {
			t.Errorf("Text(%d): got %q, want %q", code, got, want)
		}
	}
}

package identity_test

import (
	"strings"
	"testing"

	"github.com/c2cauth/c2cauth/identity"
)

func TestCheckUserID(t *testing.T) {
	tests := []struct {
		id      string
		wantErr string // empty means valid
	}{
		{id: "alice"},
		{id: "user@example.com"},
		{id: strings.Repeat("a", identity.MaxUserIDLength)},
		{id: "", wantErr: "empty"},
		{id: strings.Repeat("a", identity.MaxUserIDLength+1), wantErr: "longer than 256 bytes"},
		{id: "alice\xff", wantErr: "not valid UTF-8"},
		{id: "alice\nlevel=admin", wantErr: "control characters"},
		{id: "alice\u0085", wantErr: "control characters"},
	}
	for _, tt := range tests {
		err := identity.CheckUserID(tt.id)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("CheckUserID(%q): got %v, want nil", tt.id, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("CheckUserID(%q): got %v, want an error containing %q", tt.id, err, tt.wantErr)
		}
	}
}

package emulator

import (
	"testing"
	"time"
)

// TestExpiringMapPrune checks the memory bound: entries are deleted once due,
// so a steady stream of entries keeps the map at the number alive at once.
func TestExpiringMapPrune(t *testing.T) {
	const lifetime = 2 * time.Minute
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	m := newExpiringMap[int, bool]()

	// One entry a second for an hour.
	for i := range 3600 {
		now := start.Add(time.Duration(i) * time.Second)
		m.put(i, true, now.Add(lifetime), now)
	}
	if got, want := m.len(), int(lifetime/time.Second); got != want {
		t.Errorf("got %d entries, want %d", got, want)
	}
	if got, want := len(m.order), m.len(); got != want {
		t.Errorf("got %d keys in drop order, want %d", got, want)
	}

	last := start.Add(3599 * time.Second)
	if _, ok := m.get(3599, last); !ok {
		t.Errorf("get newest entry: got not found, want found")
	}
	if _, ok := m.get(3599, last.Add(lifetime)); ok {
		t.Errorf("get newest entry at its drop time: got found, want not found")
	}
	if got := m.len(); got != 0 {
		t.Errorf("got %d entries after all are due, want 0", got)
	}
}

func TestIsE164(t *testing.T) {
	tests := []struct {
		phone string
		want  bool
	}{
		{phone: "+12", want: true},
		{phone: "+123456789", want: true},
		{phone: "+123456789012345", want: true},
		{phone: "+1", want: false},
		{phone: "+1234567890123456", want: false},
		{phone: "+0123456789", want: false},
		{phone: "123456789", want: false},
		{phone: "+12345678a", want: false},
		{phone: "+１２３", want: false},
		{phone: "", want: false},
		{phone: "+", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.phone, func(t *testing.T) {
			if got := isE164(tt.phone); got != tt.want {
				t.Errorf("isE164(%q): got %t, want %t", tt.phone, got, tt.want)
			}
		})
	}
}

package clocktest_test

import (
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/internal/clocktest"
)

func TestClockMovesOnlyOnAdvance(t *testing.T) {
	start := time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)
	c := clocktest.New(start)
	if got := c.Now(); !got.Equal(start) {
		t.Errorf("new clock: got %v, want %v", got, start)
	}
	c.Advance(90 * time.Second)
	if got, want := c.Now(), start.Add(90*time.Second); !got.Equal(want) {
		t.Errorf("after Advance: got %v, want %v", got, want)
	}
}

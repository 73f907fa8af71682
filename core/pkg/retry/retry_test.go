package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestUntilDoublesTheDelayAndReportsEachDistinctFailureOnce(t *testing.T) {
	failures := []error{errors.New("down"), errors.New("down"), errors.New("migrating"), nil}
	var at []time.Time
	var changed []bool
	ok := Until(context.Background(), 10*time.Millisecond, 25*time.Millisecond, func() error {
		at = append(at, time.Now())
		err := failures[0]
		failures = failures[1:]
		return err
	}, func(_ error, c bool) { changed = append(changed, c) })
	if !ok || len(at) != 4 {
		t.Fatalf("ok=%v after %d attempts, want success at the 4th", ok, len(at))
	}
	for i, least := range []time.Duration{10, 20, 25} {
		if gap := at[i+1].Sub(at[i]); gap < least*time.Millisecond {
			t.Fatalf("gap %d is %v, want at least %v ms", i, gap, least)
		}
	}
	if want := []bool{true, false, true}; len(changed) != 3 || changed[0] != want[0] || changed[1] != want[1] || changed[2] != want[2] {
		t.Fatalf("changed = %v, want %v", changed, want)
	}
}

func TestUntilStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	attempts := 0
	ok := Until(ctx, time.Hour, time.Hour, func() error {
		attempts++
		return errors.New("down")
	}, func(error, bool) { cancel() })
	if ok || attempts != 1 {
		t.Fatalf("ok=%v after %d attempts, want false after 1", ok, attempts)
	}
}

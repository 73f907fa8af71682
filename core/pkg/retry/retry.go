// Package retry repeats an attempt with a doubling delay until it succeeds:
// how pixie processes wait for their servers at start.
package retry

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Until calls try until it returns nil (true) or ctx ends (false), waiting
// first, then twice as long each time up to last. failed gets each
// failure, and whether its message differs from the one before, so that a
// caller logs every distinct failure once.
func Until(ctx context.Context, first, last time.Duration, try func() error, failed func(err error, changed bool)) bool {
	delay := time.Duration(0)
	var previous string
	for {
		err := try()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		msg := err.Error()
		failed(err, msg != previous)
		previous = msg
		delay = min(max(2*delay, first), last)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
	}
}

// Starting is why a process cannot serve yet while it retries its start-up
// (migrations, a bucket, streams): what its readiness and its gated
// operations report. Safe for concurrent use.
type Starting struct {
	mu  sync.Mutex
	err error
}

// NewStarting begins with why nothing is ready yet.
func NewStarting(reason error) *Starting { return &Starting{err: reason} }

// Err is nil once started, else why not.
func (s *Starting) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Retry runs try as Until does: each failure becomes the reason ("starting:
// …"), logged as msg once per distinct failure; success clears it.
func (s *Starting) Retry(ctx context.Context, first, last time.Duration, try func() error, logger *slog.Logger, msg string) bool {
	ok := Until(ctx, first, last, try, func(err error, changed bool) {
		s.set(fmt.Errorf("starting: %w", err))
		if changed {
			logger.Warn(msg, slog.Any("error", err))
		}
	})
	if ok {
		s.set(nil)
	}
	return ok
}

func (s *Starting) set(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

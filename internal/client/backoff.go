package client

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

// backoff is the retry schedule of one batch, the same as the dskit backoff
// Promtail uses: the n-th wait is uniformly random in [lo, hi), where lo
// starts at min_period and hi at twice that, both doubling after each wait
// and capped at max_period. max_retries counts attempts, not retries; zero
// means retry for ever.
type backoff struct {
	lo, hi, max time.Duration
	maxAttempts int
	attempts    int
}

func newBackoff(cfg config.BackoffConfig) *backoff {
	return &backoff{
		lo:          cfg.MinPeriod,
		hi:          doubleCapped(cfg.MinPeriod, cfg.MaxPeriod),
		max:         cfg.MaxPeriod,
		maxAttempts: cfg.MaxRetries,
	}
}

func doubleCapped(d, max time.Duration) time.Duration {
	if d > max/2 {
		return max
	}
	return d * 2
}

// next records a failed attempt and returns how long to wait before the next
// one, or false when the attempts are used up.
func (b *backoff) next() (time.Duration, bool) {
	b.attempts++
	if b.maxAttempts > 0 && b.attempts >= b.maxAttempts {
		return 0, false
	}
	if b.lo >= b.hi {
		return b.lo, true
	}
	delay := b.lo + rand.N(b.hi-b.lo)
	if b.hi < b.max {
		b.lo = doubleCapped(b.lo, b.max)
		b.hi = doubleCapped(b.hi, b.max)
	}
	return delay, true
}

// wait sleeps for delay; it returns false at once if ctx ends first.
func wait(ctx context.Context, delay time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if delay <= 0 {
		return true
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

package client

import (
	"context"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

func TestBackoffSchedule(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name   string
		cfg    config.BackoffConfig
		ranges [][2]time.Duration // [lo, hi) of each wait; lo == hi means exactly lo
		ends   bool               // next() says stop after the listed waits
	}{
		{
			name:   "doubles up to max, then stays in the last range",
			cfg:    config.BackoffConfig{MinPeriod: 100 * ms, MaxPeriod: 1000 * ms, MaxRetries: 0},
			ranges: [][2]time.Duration{{100 * ms, 200 * ms}, {200 * ms, 400 * ms}, {400 * ms, 800 * ms}, {800 * ms, 1000 * ms}, {800 * ms, 1000 * ms}, {800 * ms, 1000 * ms}},
		},
		{
			name:   "max_retries counts attempts",
			cfg:    config.BackoffConfig{MinPeriod: 10 * ms, MaxPeriod: 100 * ms, MaxRetries: 3},
			ranges: [][2]time.Duration{{10 * ms, 20 * ms}, {20 * ms, 40 * ms}},
			ends:   true,
		},
		{
			name: "one attempt",
			cfg:  config.BackoffConfig{MinPeriod: 10 * ms, MaxPeriod: 100 * ms, MaxRetries: 1},
			ends: true,
		},
		{
			name:   "min above max waits min",
			cfg:    config.BackoffConfig{MinPeriod: 50 * ms, MaxPeriod: 10 * ms},
			ranges: [][2]time.Duration{{50 * ms, 50 * ms}, {50 * ms, 50 * ms}},
		},
		{
			name:   "zero periods do not panic",
			cfg:    config.BackoffConfig{},
			ranges: [][2]time.Duration{{0, 0}, {0, 0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for trial := 0; trial < 50; trial++ {
				b := newBackoff(tt.cfg)
				for i, r := range tt.ranges {
					d, ok := b.next()
					if !ok {
						t.Fatalf("wait %d: backoff ended early", i)
					}
					if r[0] == r[1] && d != r[0] || r[0] != r[1] && (d < r[0] || d >= r[1]) {
						t.Fatalf("wait %d = %v, want in [%v, %v)", i, d, r[0], r[1])
					}
				}
				if _, ok := b.next(); ok == tt.ends {
					t.Fatalf("after %d waits, next() ok = %v, want %v", len(tt.ranges), ok, !tt.ends)
				}
			}
		})
	}
}

func TestWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	if !wait(ctx, time.Millisecond) {
		t.Error("wait on a live context returned false")
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	if wait(ctx, time.Hour) {
		t.Error("cancelled wait returned true")
	}
	if time.Since(start) > 5*time.Second {
		t.Error("cancel did not interrupt the wait")
	}
	if wait(ctx, 0) {
		t.Error("wait on a cancelled context returned true")
	}
}

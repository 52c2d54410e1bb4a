package osquerytls

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	type step struct {
		at   time.Duration
		n    int
		want bool
	}
	tests := []struct {
		name        string
		rate, burst float64
		steps       []step
	}{
		{"burst then refused then refilled", 10, 20, []step{
			{0, 20, true}, {0, 1, false}, {50 * time.Millisecond, 1, false}, {100 * time.Millisecond, 1, true}, {100 * time.Millisecond, 1, false},
		}},
		{"a batch larger than the burst passes on a full bucket, then pays its debt", 10, 20, []step{
			{0, 1024, true},
			{time.Second, 1, false},                            // 1004 in debt, 10 paid back
			{100 * time.Second, 1, false},                      // 4 short of zero
			{100*time.Second + 500*time.Millisecond, 1, true},  // 1 token
			{102*time.Second + 500*time.Millisecond, 20, true}, // full again
		}},
		{"refused requests take nothing", 1, 5, []step{
			{0, 5, true}, {time.Second, 2, false}, {time.Second, 1, true}, {2 * time.Second, 1, true},
		}},
		{"time going backwards refills nothing", 1, 1, []step{
			{10 * time.Second, 1, true}, {0, 1, false}, {10 * time.Second, 1, false}, {11 * time.Second, 1, true},
		}},
		{"an empty request always passes", 1, 1, []step{
			{0, 1, true}, {0, 0, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bucket
			for i, s := range tt.steps {
				if got := b.take(s.n, tt.rate, tt.burst, t0.Add(s.at)); got != s.want {
					t.Fatalf("step %d (%d records at %v) = %v, want %v (tokens %.2f)", i, s.n, s.at, got, s.want, b.tokens)
				}
			}
		})
	}
}

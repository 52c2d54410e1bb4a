package osquerytls

import (
	"sync"
	"time"
)

// bucket is a node's token bucket, in records. Unlike golang.org/x/time/rate
// it admits a request larger than the burst: osqueryd sends up to
// --logger_tls_max_lines records (1,024 by default) in one request and resends
// a refused one unchanged, so a request the bucket could never hold would
// stall the node for good. A request is admitted when the bucket holds
// min(n, burst) tokens and then takes all n, going into debt if need be;
// the debt is paid back at the rate before the next request passes, so the
// long-run rate stays capped.
type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// take admits n records at now, or refuses them and takes nothing.
func (b *bucket) take(n int, rate, burst float64, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.tokens = burst
	} else if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(burst, b.tokens+elapsed.Seconds()*rate)
	}
	if now.After(b.last) {
		b.last = now
	}
	need := min(float64(n), burst)
	if b.tokens < need {
		return false
	}
	b.tokens -= float64(n)
	return true
}

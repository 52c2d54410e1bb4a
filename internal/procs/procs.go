// Package procs runs the agent's Go scheduler on as few threads (GOMAXPROCS)
// as its load needs, and adds threads while it keeps all of them busy.
//
// A log agent's work is mostly one goroutine per busy file handing entries to
// one goroutine per client. With a second P idle most of the time, every
// hand-over, network wake-up and system call that blocks for a few
// microseconds makes the runtime wake a thread to run or steal the other
// goroutine, and sysmon polls every 20µs instead of sleeping. On the 2-vCPU
// benchmark VM that costs the agent 40% more CPU time per line than one P
// does, for no more throughput (docs/benchmarks.md, "Threads"). One P is
// enough until the agent cannot keep up; then the governor adds one, and it
// takes it back once the load has gone.
package procs

import (
	"context"
	"log/slog"
	"runtime"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/cputime"
)

// The governor's rule, in CPU the process used per second of wall time
// ("cores") over one sampling interval.
const (
	// A run of raiseAfter intervals in which the process used at least
	// busyShare of every P adds one: the agent is then short of CPU, not
	// waiting for Loki or for input.
	busyShare  = 0.9
	raiseAfter = 3
	// A run of lowerAfter intervals in which one P fewer would have been at
	// most spareShare busy takes one away. The wide gap between the two
	// shares keeps a steady load from flipping the count back and forth.
	spareShare = 0.5
	lowerAfter = 10
)

// DefaultInterval is how often Run measures the process's CPU time.
const DefaultInterval = time.Second

// Governor decides GOMAXPROCS from the process's CPU use. It starts at one.
type Governor struct {
	max        int
	n          int
	busy, idle int // consecutive intervals over busyShare, under spareShare
}

// NewGovernor returns a governor that never goes above limit (at least 1).
func NewGovernor(limit int) *Governor {
	return &Governor{max: max(limit, 1), n: 1}
}

// Procs is the number of Ps the governor currently wants.
func (g *Governor) Procs() int { return g.n }

// Observe takes the CPU the process used over the last interval, in cores,
// and returns the number of Ps to run with from now on.
func (g *Governor) Observe(cores float64) int {
	if cores >= busyShare*float64(g.n) {
		g.busy++
	} else {
		g.busy = 0
	}
	if g.n > 1 && cores <= spareShare*float64(g.n-1) {
		g.idle++
	} else {
		g.idle = 0
	}
	switch {
	case g.busy >= raiseAfter && g.n < g.max:
		g.n++
		g.busy, g.idle = 0, 0
	case g.idle >= lowerAfter:
		g.n--
		g.busy, g.idle = 0, 0
	}
	return g.n
}

// Options are Run's settings; the zero value of each field means the real
// thing.
type Options struct {
	Interval time.Duration
	// CPU returns the CPU time the process has used so far.
	CPU func() time.Duration
	// Set changes GOMAXPROCS.
	Set func(n int)
}

// Run sets GOMAXPROCS to the governor's count and then, every interval,
// measures the process's CPU use and applies the governor's decision, until
// ctx ends. Go's own choice is not restored: the agent is stopping.
func Run(ctx context.Context, g *Governor, logger *slog.Logger, opts Options) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.CPU == nil {
		opts.CPU = cputime.Process
	}
	if opts.Set == nil {
		opts.Set = func(n int) { runtime.GOMAXPROCS(n) }
	}
	n := g.Procs()
	opts.Set(n)
	logger.Info("running the Go scheduler on as few threads as the load needs", "gomaxprocs", n, "max", g.max)

	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	lastWall, lastCPU := time.Now(), opts.CPU()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cpu, now := opts.CPU(), time.Now()
			wall := now.Sub(lastWall)
			if wall <= 0 {
				continue
			}
			cores := float64(cpu-lastCPU) / float64(wall)
			lastWall, lastCPU = now, cpu
			if next := g.Observe(cores); next != n {
				logger.Debug("changing GOMAXPROCS", "from", n, "to", next, "cores_used", cores)
				n = next
				opts.Set(n)
			}
		}
	}
}

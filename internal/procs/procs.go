// Package procs runs the agent's Go scheduler on as few threads (GOMAXPROCS)
// as its load needs, and adds threads while it keeps all of them busy.
//
// A log agent's work is mostly one goroutine per busy file handing entries to
// one goroutine per client. With a second P idle most of the time, hand-overs,
// network wake-ups and system calls that block past one sysmon round make the
// runtime wake a thread to run or steal the other goroutine, and sysmon, each
// time it takes a P back from a system call, polls every 20µs for about a
// millisecond. On the 2-vCPU benchmark VM that cost 32–47% more CPU time per
// line than one P, for no more throughput (docs/benchmarks.md, "Threads").
// One P is enough until the agent cannot keep up; then the governor adds
// one, and takes it back once the load has gone.
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
	// A run of lowerAfter intervals in which the process used at most
	// spareShare of one P fewer takes one away. The same work costs more
	// CPU on more Ps (the reason for all this), so the share is measured
	// generously: a load that needs 0.6 of a P on one costs about 0.8 on two,
	// and must still bring the agent back to one. It stays well below
	// busyShare, so that a steady load does not flip the count back and forth.
	spareShare = 0.8
	lowerAfter = 10
)

// interval is how often Run measures the process's CPU time.
const interval = time.Second

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

// Options are Run's settings; a zero field means the real thing.
type Options struct {
	Interval time.Duration
	// CPU returns the CPU time the process has used so far.
	CPU func() time.Duration
	// Set changes GOMAXPROCS.
	Set func(n int)
}

// Run sets GOMAXPROCS to the governor's count and then, every interval,
// measures the process's CPU use and applies the governor's decision, until
// ctx ends. Go's own choice is not restored: the agent is stopping. Where
// the CPU time cannot be measured (cputime.Supported), Run changes nothing:
// the governor could never see a busy P.
func Run(ctx context.Context, g *Governor, logger *slog.Logger, opts Options) {
	if opts.CPU == nil {
		if !cputime.Supported {
			<-ctx.Done()
			return
		}
		opts.CPU = cputime.Process
	}
	if opts.Interval <= 0 {
		opts.Interval = interval
	}
	if opts.Set == nil {
		opts.Set = func(n int) { runtime.GOMAXPROCS(n) }
	}
	opts.Set(g.Procs())
	logger.Info("running the Go scheduler on as few threads as the load needs", "gomaxprocs", g.Procs(), "max", g.max)

	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	m := meter{cpu: opts.CPU(), wall: time.Now()}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cores, ok := m.sample(opts.CPU(), time.Now())
			if !ok {
				continue
			}
			if from, to := g.Procs(), g.Observe(cores); to != from {
				logger.Info("changing the Go scheduler's thread count (GOMAXPROCS)", "from", from, "to", to, "cores_used", cores)
				opts.Set(to)
			}
		}
	}
}

// meter turns readings of the process's CPU time into CPU used per second
// of wall time since the last good reading.
type meter struct {
	cpu  time.Duration
	wall time.Time
}

// sample returns the cores used since the last good reading. A failed
// reading (cputime gives 0) is no sample: the next good one is measured
// against the last good one, over both intervals.
func (m *meter) sample(cpu time.Duration, now time.Time) (float64, bool) {
	wall := now.Sub(m.wall)
	if cpu < m.cpu || wall <= 0 {
		return 0, false
	}
	cores := float64(cpu-m.cpu) / float64(wall)
	m.cpu, m.wall = cpu, now
	return cores, true
}

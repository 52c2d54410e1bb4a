// Package targets holds what every target kind shares: the job pipeline that
// runs a job's pipeline_stages for all of the job's targets.
package targets

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// ReadlineLimit is limits_config's global readline rate limit, applied after the
// last stage of every job as in Promtail. One limiter is shared by all jobs.
type ReadlineLimit struct {
	Limiter *rate.Limiter
	// Drop discards lines over the rate (counted) instead of waiting for a token.
	Drop    bool
	Dropped prometheus.Counter
}

// JobPipeline runs one job's pipeline for all of the job's targets and hands
// what comes out to the next handler.
//
// The stages run as direct calls on the goroutine of the target that handed the
// entry in, under a mutex: a pipeline keeps per-stream state (multiline blocks,
// timestamp fudging) that must see one entry at a time, and a mutex costs
// nothing when one file feeds the job, where a goroutine hop per line would.
type JobPipeline struct {
	mu       sync.Mutex
	pipeline *stages.Pipeline
	next     api.EntryHandler
	limit    *ReadlineLimit
	out      func(*stages.Entry)
	entry    stages.Entry // the entry in the pipeline, under mu

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewJobPipeline starts the periodic flush of stages that hold entries back;
// Stop ends it.
func NewJobPipeline(p *stages.Pipeline, next api.EntryHandler, limit *ReadlineLimit) *JobPipeline {
	j := &JobPipeline{pipeline: p, next: next, limit: limit, stop: make(chan struct{})}
	j.out = j.emit
	if iv := p.FlushInterval(); iv > 0 {
		j.wg.Add(1)
		go j.flushLoop(iv)
	}
	return j
}

// Handle runs e through the pipeline. It blocks while the next handler pushes
// back.
func (j *JobPipeline) Handle(e stages.Entry) {
	j.mu.Lock()
	// The stages take the entry by pointer through an interface, which would
	// move e to the heap on every line; the job's own slot costs nothing.
	j.entry = e
	j.pipeline.Process(&j.entry, j.out)
	j.entry = stages.Entry{}
	j.mu.Unlock()
}

func (j *JobPipeline) emit(e *stages.Entry) {
	if l := j.limit; l != nil {
		if l.Drop {
			if !l.Limiter.Allow() {
				l.Dropped.Inc()
				return
			}
		} else if err := l.Limiter.Wait(context.Background()); err != nil {
			l.Dropped.Inc()
			return
		}
	}
	out := *e
	// Extracted values stay in the pipeline; dropping the map here lets it be
	// collected while the entry waits in a batch.
	out.Extracted = nil
	j.next.Handle(out)
}

func (j *JobPipeline) flushLoop(every time.Duration) {
	defer j.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			return
		case now := <-t.C:
			j.mu.Lock()
			j.pipeline.Flush(now, false, j.out)
			j.mu.Unlock()
		}
	}
}

// Stop ends the periodic flush and emits every entry a stage still holds.
// Targets must have stopped handing entries in.
func (j *JobPipeline) Stop() {
	close(j.stop)
	j.wg.Wait()
	j.mu.Lock()
	j.pipeline.Flush(time.Now(), true, j.out)
	j.mu.Unlock()
}

package stages

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"
)

// Pipeline runs the stages of one pipeline_stages list as direct calls: an entry
// goes through every stage on the caller's goroutine, with no channel or goroutine
// per stage. A Pipeline is not safe for concurrent use; its owner (one target, or
// the job's pipeline goroutine) serialises Process and Flush.
type Pipeline struct {
	stages   []Stage
	names    []string
	nexts    []func(*Entry) // nexts[i] is what stage i calls for each entry it passes on
	ack      *Ack           // the Ack of the entry being processed
	out      func(*Entry)
	flushers []int
	interval time.Duration
	// copyLabels is false when the first stage makes label sets of its own.
	copyLabels bool
	// extracted is reused by Process for every entry that comes in without
	// extracted values.
	extracted map[string]any
	// Process copies every label into the extracted values when seedAll is
	// set, else those named in seedKeys: the ones a stage reads.
	seedAll  bool
	seedKeys []model.LabelName
}

// NewPipeline builds a pipeline from the decoded YAML of a pipeline_stages list:
// each item a map with exactly one key, the stage type, whose value is the stage's
// body.
func NewPipeline(items []any, opts Options) (*Pipeline, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{seedAll: !opts.ExtractedUnread || opts.Inspector != nil}
	for i, item := range items {
		name, body, err := splitItem(item)
		if err != nil {
			return nil, err
		}
		stageOpts := opts
		stageOpts.ExtractedUnread = opts.ExtractedUnread && i == len(items)-1 && opts.Inspector == nil
		stageOpts.LabelsShared = opts.LabelsShared && i == len(items)-1 && opts.Inspector == nil
		st, err := newStage(name, body, stageOpts)
		if err != nil {
			return nil, fmt.Errorf("invalid %s stage config: %w", name, err)
		}
		if f, ok := st.(Flusher); ok {
			p.flushers = append(p.flushers, len(p.stages))
			if iv := f.FlushInterval(); iv > 0 && (p.interval == 0 || iv < p.interval) {
				p.interval = iv
			}
		}
		p.addSeedKeys(st)
		if opts.Inspector != nil {
			st = inspect(st, name, opts.Inspector)
		}
		p.stages = append(p.stages, st)
		p.names = append(p.names, name)
	}
	p.copyLabels = true
	if len(p.stages) > 0 {
		if m, ok := p.stages[0].(LabelSetMaker); ok && m.MakesLabelSets() {
			p.copyLabels = false
		}
	}
	p.nexts = make([]func(*Entry), len(p.stages))
	for i := range p.stages {
		if i == len(p.stages)-1 {
			p.nexts[i] = func(e *Entry) {
				// An entry a stage built anew (a split row, say) without
				// the Ack of the entry it came from would let the source
				// count that entry as safe too early.
				if e.Ack == nil {
					e.Ack = p.ack
				}
				p.out(e)
			}
			continue
		}
		st, next := p.stages[i+1], &p.nexts[i+1]
		p.nexts[i] = func(e *Entry) { st.Process(e, *next) }
	}
	return p, nil
}

// addSeedKeys notes the extracted keys st reads.
func (p *Pipeline) addSeedKeys(st Stage) {
	r, ok := st.(ExtractedReader)
	if !ok {
		p.seedAll = true
		return
	}
	keys, all := r.ExtractedKeys()
	p.seedAll = p.seedAll || all
	for _, k := range keys {
		if name := model.LabelName(k); !slices.Contains(p.seedKeys, name) {
			p.seedKeys = append(p.seedKeys, name)
		}
	}
}

// splitItem checks that a pipeline_stages item is a one-key map and returns the
// key (the stage type) and its body. The error texts are Promtail's, so that
// people searching for them find the same advice.
func splitItem(item any) (string, any, error) {
	m, ok := item.(map[any]any)
	if !ok {
		if ms, isSlice := item.(yaml.MapSlice); isSlice {
			m = make(map[any]any, len(ms))
			for _, kv := range ms {
				m[kv.Key] = kv.Value
			}
		} else {
			return "", nil, fmt.Errorf("invalid YAML config, make sure each stage of your pipeline is a YAML object (must end with a `:`), check stage `- %v`", item)
		}
	}
	if len(m) != 1 {
		return "", nil, errors.New("pipeline stage must contain only one key")
	}
	for k, v := range m {
		name, ok := k.(string)
		if !ok {
			return "", nil, fmt.Errorf("pipeline stage key must be a string, got %v", k)
		}
		return name, v, nil
	}
	panic("unreachable")
}

func newStage(name string, body any, opts Options) (Stage, error) {
	factory, ok := lookup(name)
	if !ok {
		return nil, fmt.Errorf("Unknown stage type: %s", name) //nolint:staticcheck // Promtail's text.
	}
	cfg := factory()
	if v := reflect.ValueOf(cfg); v.Kind() != reflect.Pointer || v.IsNil() {
		return nil, fmt.Errorf("stage type %s is registered with a factory that does not return a non-nil pointer", name)
	}
	unused, err := decodeBody(body, cfg)
	if err != nil {
		return nil, err
	}
	// Promtail ignores unknown keys in a stage body and so do we, but such a key
	// is nearly always a typo that silently disables something.
	if len(unused) > 0 {
		opts.Logger.Warn("pipeline stage has a key it does not use; check for a typo", "job", opts.JobName, "stage", name, "keys", strings.Join(unused, ","))
	}
	stageOpts := opts
	stageOpts.Logger = opts.Logger.With("stage", name)
	return cfg.NewStage(stageOpts)
}

// Process runs e through every stage and calls out for each entry that comes out
// of the last one. Before the first stage, the entry gets its own copy of its labels
// (stages change them in place; not when the first stage makes label sets of its
// own, see LabelSetMaker) and, when it comes with no extracted values, the
// labels are copied into Extracted, as Promtail does, so that stages can use them
// as sources (unless nothing reads them, see ExtractedReader).
//
// The extracted map given to such an entry is the pipeline's own, cleared and
// reused for the next entry: extracted values never leave the pipeline, and a
// stage that keeps an entry keeps a clone.
func (p *Pipeline) Process(e *Entry, out func(*Entry)) {
	if len(p.stages) == 0 {
		out(e)
		return
	}
	if p.copyLabels {
		e.Labels = e.Labels.Clone()
	}
	if e.Extracted == nil {
		if p.extracted == nil {
			p.extracted = make(map[string]any, len(e.Labels)+8)
		}
		clear(p.extracted)
		e.Extracted = p.extracted
	}
	if p.seedAll {
		for k, v := range e.Labels {
			e.Extracted[string(k)] = string(v)
		}
	} else {
		for _, k := range p.seedKeys {
			if v, ok := e.Labels[k]; ok {
				e.Extracted[string(k)] = string(v)
			}
		}
	}
	p.run(e, out)
}

// run runs e through the stages as it is: a nested pipeline (match) continues
// the entry of the pipeline around it, whose labels and extracted values are
// already the entry's own.
func (p *Pipeline) run(e *Entry, out func(*Entry)) {
	if len(p.stages) == 0 {
		out(e)
		return
	}
	p.out = out
	p.ack = e.Ack
	p.stages[0].Process(e, p.nexts[0])
	p.ack = nil
}

// Flush gives every stage that holds entries back a chance to emit them: those
// due at now, or all of them when final is set. Entries flushed by one stage
// continue through the stages after it.
func (p *Pipeline) Flush(now time.Time, final bool, out func(*Entry)) {
	p.out = out
	for _, i := range p.flushers {
		p.stages[i].(Flusher).Flush(now, final, p.nexts[i])
	}
}

// FlushInterval is how often Flush should run while input is idle; zero when no
// stage holds entries back.
func (p *Pipeline) FlushInterval() time.Duration { return p.interval }

// Len is the number of stages.
func (p *Pipeline) Len() int { return len(p.stages) }

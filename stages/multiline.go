package stages

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"
)

func init() {
	Register("multiline", func() Config { return &MultilineConfig{} })
}

const (
	defaultMultilineMaxLines = 128
	defaultMultilineMaxWait  = 3 * time.Second
	minMultilineFlushEvery   = 10 * time.Millisecond
)

// MultilineConfig is the body of a multiline stage: lines of one stream are
// joined into a block that starts at a line matching FirstLine.
type MultilineConfig struct {
	FirstLine *string `yaml:"firstline"`
	// MaxLines ends a block once it has this many lines (0: no limit).
	MaxLines *uint64 `yaml:"max_lines"`
	// MaxWaitTime ends a block when its stream has had no line for this long.
	MaxWaitTime *string `yaml:"max_wait_time"`
}

// Promtail decodes multiline bodies weakly (`max_lines: "10"`).
func (*MultilineConfig) weaklyTyped() {}

// NewStage compiles the first-line expression once.
func (c *MultilineConfig) NewStage(Options) (Stage, error) {
	if c.FirstLine == nil {
		return nil, errors.New("multiline stage config must define `firstline` regular expression")
	}
	re, err := regexp.Compile(*c.FirstLine)
	if err != nil {
		return nil, fmt.Errorf("multiline stage first line regex compilation error: %w", err)
	}
	s := &multilineStage{
		firstLine: re,
		maxLines:  defaultMultilineMaxLines,
		maxWait:   defaultMultilineMaxWait,
		streams:   make(map[model.Fingerprint]*multilineBlock),
		now:       time.Now,
	}
	if c.MaxLines != nil {
		s.maxLines = *c.MaxLines
	}
	if c.MaxWaitTime != nil {
		if s.maxWait, err = time.ParseDuration(*c.MaxWaitTime); err != nil {
			return nil, fmt.Errorf("multiline stage `max_wait_time` parse error: %w", err)
		}
	}
	return s, nil
}

// multilineStage keeps one block per stream (label set). A stream exists from
// its first start line on; until then its lines pass through untouched. After
// that every line of the stream joins the current block, as in Promtail, even
// after the block was flushed for its size or age: such lines form a block that
// carries the labels and timestamp of the last start line.
type multilineStage struct {
	firstLine *regexp.Regexp
	maxLines  uint64
	maxWait   time.Duration
	streams   map[model.Fingerprint]*multilineBlock
	order     []*multilineBlock // creation order, so flushes are deterministic
	now       func() time.Time
}

type multilineBlock struct {
	start Entry // the start line's entry; its line is not used
	buf   []byte
	// ack is the Ack of the block's first line, held until the block is
	// emitted: the source must not count that line as safe before then.
	ack      *Ack
	lines    uint64
	lastSeen time.Time
}

func (s *multilineStage) Process(e *Entry, next func(*Entry)) {
	key := e.Labels.FastFingerprint()
	isFirst := s.firstLine.MatchString(e.Line)
	b := s.streams[key]
	if b == nil {
		if !isFirst {
			next(e)
			return
		}
		b = &multilineBlock{}
		s.streams[key] = b
		s.order = append(s.order, b)
	}
	if isFirst {
		s.flush(b, next)
		b.start = e.Clone()
		b.start.Line = ""
	}
	if len(b.buf) > 0 {
		b.buf = append(b.buf, '\n')
	} else {
		b.ack = e.Ack
		b.ack.Hold(1)
	}
	b.buf = append(b.buf, e.Line...)
	b.lines++
	b.lastSeen = s.now()
	if b.lines == s.maxLines {
		s.flush(b, next)
	}
}

// flush emits the block's lines as one entry with the start line's labels,
// extracted values and timestamp. An empty block emits nothing.
func (s *multilineStage) flush(b *multilineBlock, next func(*Entry)) {
	if len(b.buf) == 0 {
		return
	}
	out := Entry{
		Labels:    b.start.Labels.Clone(),
		Extracted: maps.Clone(b.start.Extracted),
		Timestamp: b.start.Timestamp,
		Line:      string(b.buf),
		Ack:       b.ack,
	}
	if b.start.StructuredMetadata != nil {
		out.StructuredMetadata = append(push.LabelsAdapter(nil), b.start.StructuredMetadata...)
	}
	b.buf = b.buf[:0]
	b.lines = 0
	ack := b.ack
	b.ack = nil
	next(&out)
	ack.Release(1)
}

// Flush emits the blocks whose stream has been quiet for max_wait_time, or all
// of them when final.
func (s *multilineStage) Flush(now time.Time, final bool, next func(*Entry)) {
	for _, b := range s.order {
		if final || now.Sub(b.lastSeen) >= s.maxWait {
			s.flush(b, next)
		}
	}
}

// FlushInterval checks for quiet streams four times per max_wait_time, so a
// block leaves at most a quarter of the wait late.
func (s *multilineStage) FlushInterval() time.Duration {
	return max(s.maxWait/4, minMultilineFlushEvery)
}

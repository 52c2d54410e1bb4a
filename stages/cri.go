package stages

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/c2h5oh/datasize"
	"github.com/prometheus/common/model"
)

func init() {
	Register("cri", func() Config { return &CRIConfig{} })
}

const defaultCRIMaxPartialLines = 100

// CRIConfig is the body of a cri stage, which reads the CRI log format
// (`<time> <stdout|stderr> <flags> <content>`) and joins partial lines (flag P)
// with the line that completes them.
type CRIConfig struct {
	// MaxPartialLines bounds how many streams may hold partial lines; when a
	// partial line would exceed it, everything held is emitted as it is.
	MaxPartialLines int `yaml:"max_partial_lines"`
	// MaxPartialLineSize, with MaxPartialLineSizeTruncate, cuts joined lines
	// to this many bytes.
	MaxPartialLineSize         byteSize `yaml:"max_partial_line_size"`
	MaxPartialLineSizeTruncate bool     `yaml:"max_partial_line_size_truncate"`
}

// Promtail decodes cri bodies weakly (`max_partial_lines: "5"`).
func (*CRIConfig) weaklyTyped() {}

// NewStage implements Config.
func (c *CRIConfig) NewStage(Options) (Stage, error) {
	s := &criStage{
		maxPartial: c.MaxPartialLines,
		partials:   make(map[model.Fingerprint]*Entry),
	}
	if s.maxPartial == 0 {
		s.maxPartial = defaultCRIMaxPartialLines
	}
	// Promtail truncates to zero bytes when truncation is on and no size is
	// set; a size of 0 means "no limit" here, as the option is documented.
	if c.MaxPartialLineSizeTruncate && c.MaxPartialLineSize > 0 {
		s.truncateAt = int(min(uint64(c.MaxPartialLineSize), math.MaxInt))
	}
	return s, nil
}

// criStage parses like Promtail's built-in cri pipeline: a regex extracting
// time, stream, flags and content, then labels stream, timestamp from time
// (RFC 3339, fudged on failure), output content, then output tags. A line that
// does not parse still goes through those steps with whatever earlier stages
// extracted. Partial lines are then held per label set until a line of the same
// label set that is not partial arrives; it gets the joined text. As in
// Promtail, partial lines still held when the input ends are not emitted: no
// line completed them.
type criStage struct {
	maxPartial int
	truncateAt int // 0: no truncation
	timestamps containerTimestamps

	partials map[model.Fingerprint]*Entry
	order    []model.Fingerprint // streams holding a partial line, oldest first
}

func (s *criStage) Process(e *Entry, next func(*Entry)) {
	extracted := seedExtractedFromLabels(e)
	if ts, stream, flags, content, ok := splitCRILine(e.Line); ok {
		extracted["time"] = ts
		extracted["stream"] = stream
		extracted["flags"] = flags
		extracted["content"] = content
	}
	setStreamLabelFrom(e)
	s.timestamps.apply(e, "time")
	setLineFrom(e, "content")
	setLineFrom(e, "tags")

	key := e.Labels.FastFingerprint()
	if flags, _ := extracted["flags"].(string); flags == "P" {
		if len(s.partials) >= s.maxPartial {
			held := s.takeAll()
			e.Ack.Hold(1)
			s.hold(key, e)
			for _, h := range held {
				ack := h.Ack
				next(h)
				ack.Release(1)
			}
			return
		}
		if prev, ok := s.partials[key]; ok {
			e.Line = prev.Line + e.Line
			e.Ack = prev.Ack
		} else {
			e.Ack.Hold(1)
		}
		s.hold(key, e)
		return
	}
	if prev, ok := s.partials[key]; ok {
		e.Line = prev.Line + e.Line
		s.truncate(e)
		delete(s.partials, key)
		s.order = slices.DeleteFunc(s.order, func(k model.Fingerprint) bool { return k == key })
		// The joined line is safe only when its first part is.
		e.Ack = prev.Ack
		next(e)
		prev.Ack.Release(1)
		return
	}
	next(e)
}

func (s *criStage) hold(key model.Fingerprint, e *Entry) {
	s.truncate(e)
	held := e.Clone()
	if _, ok := s.partials[key]; !ok {
		s.order = append(s.order, key)
	}
	s.partials[key] = &held
}

func (s *criStage) takeAll() []*Entry {
	held := make([]*Entry, 0, len(s.order))
	for _, k := range s.order {
		held = append(held, s.partials[k])
	}
	clear(s.partials)
	s.order = s.order[:0]
	return held
}

func (s *criStage) truncate(e *Entry) {
	if s.truncateAt > 0 && len(e.Line) > s.truncateAt {
		e.Line = e.Line[:s.truncateAt]
	}
}

// isRegexpSpace is \s in RE2: ASCII space, tab, newline, form feed, carriage
// return (not vertical tab).
func isRegexpSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// splitCRILine splits `<time> <stdout|stderr> <flags> <content>`. The time and
// flags are runs of non-space characters each followed by exactly one space;
// content is everything after (possibly empty, possibly with newlines).
func splitCRILine(line string) (ts, stream, flags, content string, ok bool) {
	i := 0
	for i < len(line) && !isRegexpSpace(line[i]) {
		i++
	}
	if i == 0 || i == len(line) || line[i] != ' ' {
		return "", "", "", "", false
	}
	ts, rest := line[:i], line[i+1:]
	switch {
	case strings.HasPrefix(rest, "stdout "):
		stream = "stdout"
	case strings.HasPrefix(rest, "stderr "):
		stream = "stderr"
	default:
		return "", "", "", "", false
	}
	rest = rest[len(stream)+1:]
	j := 0
	for j < len(rest) && !isRegexpSpace(rest[j]) {
		j++
	}
	if j == 0 || j == len(rest) || rest[j] != ' ' {
		return "", "", "", "", false
	}
	return ts, stream, rest[:j], rest[j+1:], true
}

// byteSize is a size in bytes: an integer, or a string with an optional unit
// ("512", "16KB", "1MB"; units are powers of 1024).
type byteSize uint64

// UnmarshalYAML accepts what Promtail's weak decoding accepts (numbers and
// numeric strings) and also sizes with units, as the option is documented.
func (b *byteSize) UnmarshalYAML(unmarshal func(any) error) error {
	var v any
	if err := unmarshal(&v); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil:
		*b = 0
	case int:
		if x < 0 {
			return fmt.Errorf("byte size %d is negative", x)
		}
		*b = byteSize(x)
	case uint64:
		*b = byteSize(x)
	case float64:
		if x < 0 {
			return fmt.Errorf("byte size %v is negative", x)
		}
		*b = byteSize(x)
	case string:
		var size datasize.ByteSize
		if err := size.UnmarshalText([]byte(x)); err != nil {
			return fmt.Errorf("invalid byte size %q: %w", x, err)
		}
		*b = byteSize(size.Bytes())
	default:
		return fmt.Errorf("byte size: expected a number or a string, got %T", v)
	}
	return nil
}

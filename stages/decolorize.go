package stages

import (
	"regexp"
	"strings"
)

func init() {
	Register("decolorize", func() Config { return &DecolorizeConfig{} })
}

// DecolorizeConfig is the (empty) body of a decolorize stage, which removes
// ANSI escape sequences (colours, cursor moves, OSC titles) from the line.
type DecolorizeConfig struct{}

// NewStage implements Config.
func (*DecolorizeConfig) NewStage(Options) (Stage, error) {
	return decolorizeStage{}, nil
}

// ansiSequence matches what Promtail strips: an ESC or CSI (U+009B) introducer,
// optional intermediate bytes, then either an OSC-style body closed by BEL or
// numeric parameters and one final byte. Matching the same set of sequences
// keeps lines byte-identical to Promtail's, including its leftovers on unusual
// input.
var ansiSequence = regexp.MustCompile("[\x1b\u009b][\\[\\]()#;?]*(?:[0-9A-Za-z;]*\x07|(?:[0-9]{1,4}(?:;[0-9]{0,4})*)?[0-9A-PRZcf-nqrty=<>~])")

type decolorizeStage struct{}

func (decolorizeStage) Process(e *Entry, next func(*Entry)) {
	// Most lines have no escape at all; they skip the regexp and keep their
	// memory.
	if strings.IndexByte(e.Line, 0x1b) >= 0 || strings.Contains(e.Line, "\u009b") {
		e.Line = ansiSequence.ReplaceAllString(e.Line, "")
	}
	next(e)
}

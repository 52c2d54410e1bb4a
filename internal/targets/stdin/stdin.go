// Package stdin reads log lines from standard input (-stdin), Promtail's way:
// every line through the first job's pipeline, then exit once input ends.
package stdin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// Read hands every non-empty line of r to h with the given labels and the time
// it was read, and returns at the end of input. Trailing carriage returns and
// newlines are cut; a line of spaces is kept; a last line without a newline is
// read like the others.
func Read(r io.Reader, labels model.LabelSet, h api.EntryHandler) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		raw, err := br.ReadBytes('\n')
		if line := bytes.TrimRight(raw, "\r\n"); len(line) > 0 {
			h.Handle(stages.Entry{Labels: labels, Timestamp: time.Now(), Line: string(line)})
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
	}
}

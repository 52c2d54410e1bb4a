package client

import (
	"io"
	"sync"

	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// dryRunTimeLayout is how -dry-run prints entry timestamps.
const dryRunTimeLayout = "2006-01-02T15:04:05.999999999-0700"

// maxKeptPrintBuffer keeps one very long line from pinning its buffer.
const maxKeptPrintBuffer = 64 << 10

// Printer is the -dry-run stand-in for the clients: it writes each entry as
// "<timestamp>\t<labels>\t<line>\n" instead of sending it. Labels are printed
// as they stand, __tenant_id__ included; structured metadata is not printed.
// It is safe for concurrent use; lines are never interleaved.
type Printer struct {
	mu    sync.Mutex
	w     io.Writer
	buf   []byte
	names []model.LabelName
}

// NewPrinter returns a Printer writing to w.
func NewPrinter(w io.Writer) *Printer {
	return &Printer{w: w}
}

// Handle prints e. A failed write is not reported: dry-run output goes to a
// terminal or pipe, and there is no one to tell but that same output.
func (p *Printer) Handle(e stages.Entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := e.Timestamp.AppendFormat(p.buf[:0], dryRunTimeLayout)
	b = append(b, '\t')
	b, p.names = appendLabels(b, e.Labels, p.names)
	b = append(b, '\t')
	b = append(b, e.Line...)
	b = append(b, '\n')
	_, _ = p.w.Write(b)
	if cap(b) <= maxKeptPrintBuffer {
		p.buf = b
	}
}

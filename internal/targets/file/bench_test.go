package file

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// discard counts entries and drops them.
type discard struct{ n int }

func (d *discard) Handle(stages.Entry) { d.n++ }

// BenchmarkTail measures the reader alone — read, split, entry, handler,
// position — on a file of b.N lines of about 120 bytes. One op is one line.
func BenchmarkTail(b *testing.B) {
	for _, enc := range []string{"", "ISO-8859-1"} {
		name := "raw"
		if enc != "" {
			name = enc
		}
		b.Run(name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "bench.log")
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			w := bufio.NewWriterSize(f, 1<<20)
			for i := range b.N {
				fmt.Fprintf(w, "2024-05-10T14:22:01.123456Z level=info caller=server.go:%d msg=\"request served\" status=200 bytes=%d\n", i%1000, i)
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}

			format, err := newLineFormat(enc)
			if err != nil {
				b.Fatal(err)
			}
			sink := &discard{}
			m := &Manager{
				log:     slog.New(slog.DiscardHandler),
				metrics: NewMetrics(nil),
				pos:     newMemPositions(nil),
				pms:     map[string]*pathMetrics{},
			}
			j := &job{m: m, name: "bench", log: m.log, handler: sink, format: format}
			tgt := &target{m: m, job: j, log: m.log, handler: sink}
			in, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			r := newTailer(tgt, in, idOf(path, fi), path, 0, m.acquirePathMetrics(path))
			b.SetBytes(fi.Size() / int64(max(b.N, 1)))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			if _, err := r.readToEOF(); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			_ = in.Close()
			if sink.n != b.N {
				b.Fatalf("read %d lines, want %d", sink.n, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "lines/s")
		})
	}
}

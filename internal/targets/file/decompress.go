package file

import (
	"compress/bzip2"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// Decompression formats, as Promtail names them. The format is configured,
// never sniffed from the content or the file name.
var decompressionFormats = map[string]func(io.Reader) (io.Reader, error){
	"gz":  func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
	"z":   func(r io.Reader) (io.Reader, error) { return zlib.NewReader(r) },
	"bz2": func(r io.Reader) (io.Reader, error) { return bzip2.NewReader(r), nil },
}

// decompressor reads a compressed file once, from start to end, as Promtail
// does: it is not followed after its end, and its position is the number of
// lines read, not a byte offset.
type decompressor struct {
	t       *target
	path    string
	labels  model.LabelSet
	handler api.EntryHandler
	dec     *lineDecoder
	newRead func(io.Reader) (io.Reader, error)
	delay   time.Duration
	pm      *pathMetrics
	size    int64

	lines atomic.Int64

	// openErr is set when the file could not be opened: the target retries
	// it at the next sync. Set before done is closed.
	openErr error

	// released is used by the target goroutine only.
	released bool

	// detached is set once the target lets go of the file; acknowledgements
	// that settle after it save no position, as for a tailer that no longer
	// owns its path.
	mu       sync.Mutex
	detached bool

	quit     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func newDecompressor(t *target, path string, size int64, pm *pathMetrics) *decompressor {
	labels := make(model.LabelSet, len(t.labels)+1)
	for k, v := range t.labels {
		labels[k] = v
	}
	labels[filenameLabel] = model.LabelValue(path)
	return &decompressor{
		t:       t,
		path:    path,
		labels:  labels,
		handler: t.handler,
		dec:     t.job.format.decoder(),
		newRead: decompressionFormats[t.job.decompress.Format],
		delay:   t.job.decompress.InitialDelay,
		pm:      pm,
		size:    size,
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

func (d *decompressor) stop() { d.stopOnce.Do(func() { close(d.quit) }) }
func (d *decompressor) wait() { <-d.done }

func (d *decompressor) run() {
	defer func() {
		close(d.done)
		d.t.decompressorFinished(d)
	}()
	if d.delay > 0 {
		timer := time.NewTimer(d.delay)
		select {
		case <-timer.C:
		case <-d.quit:
			timer.Stop()
			return
		}
	}
	f, err := openForRead(d.path)
	if err != nil {
		d.openErr = err
		return
	}
	defer f.Close()
	d.t.m.metrics.filesActive.Inc()
	defer d.t.m.metrics.filesActive.Dec()

	log := d.t.log.With("path", d.path)
	skip, err := d.t.m.pos.Get(d.path)
	if err != nil {
		log.Warn("saved position is unusable, reading the file from the start", "err", err)
		skip = 0
	}
	d.lines.Store(skip)
	zr, err := d.newRead(f)
	if err != nil {
		log.Error("cannot decompress file", "format", d.t.job.decompress.Format, "err", err)
		return
	}
	log.Info("reading compressed file", "format", d.t.job.decompress.Format, "skipping_lines", skip)
	lb := lineBuffer{sep: d.t.job.format.sep}
	var seen int64
	var lastTS time.Time
	// Positions are saved as lines are acknowledged, not as they are read.
	seq := api.NewSequence(d.save)
	var ack *stages.Ack
	emit := func(line []byte) bool {
		seen++
		if seen <= skip {
			return false
		}
		if len(d.t.job.format.sep) == 1 && len(line) > 0 && line[len(line)-1] == '\r' {
			// Promtail reads compressed files with bufio.ScanLines, which
			// drops a carriage return before the newline.
			line = line[:len(line)-1]
		}
		var text string
		if d.dec != nil {
			text = d.dec.decode(line)
		} else {
			text = string(line)
		}
		ts := time.Now()
		if !ts.After(lastTS) {
			ts = lastTS.Add(time.Nanosecond)
		}
		lastTS = ts
		d.handler.Handle(stages.Entry{Labels: d.labels, Timestamp: ts, Line: text, Ack: ack})
		return true
	}
	commit := func(emitted int) {
		if emitted == 0 {
			return
		}
		pos := max(seen, skip)
		d.lines.Store(pos)
		d.pm.readBytes.Set(float64(pos))
		d.pm.readLines.Add(float64(emitted))
	}
	d.pm.fileBytes.Set(float64(d.size))
	for {
		select {
		case <-d.quit:
			return
		default:
		}
		n, rerr := lb.fill(zr)
		batch := seq.Begin()
		ack = batch.Ack
		if n > 0 {
			emitted := 0
			for {
				line, ok := lb.next()
				if !ok {
					break
				}
				if emit(line) {
					emitted++
				}
			}
			commit(emitted)
		}
		if rerr == nil {
			batch.End(max(seen, skip))
			continue
		}
		if rest := lb.takeRest(); len(rest) > 0 && emit(rest) {
			commit(1)
		}
		batch.End(max(seen, skip))
		if !errors.Is(rerr, io.EOF) {
			log.Error("decompressing file failed, the lines read so far were kept", "lines", seen, "err", rerr)
			return
		}
		log.Info("compressed file read to its end", "lines", seen)
		return
	}
}

// reconcileCompressed is reconcile for a job with decompression: one
// decompressor per path, no rotation.
func (t *target) reconcileCompressed(paths, gone []string) {
	for _, p := range paths {
		if _, ok := t.compressed[p]; ok {
			continue
		}
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			t.note(p, "cannot stat file, will retry", "err", err)
			continue
		case !fi.Mode().IsRegular():
			t.note(p, "not a regular file, not reading it", "type", fileType(fi.Mode()))
			continue
		}
		d := newDecompressor(t, p, fi.Size(), t.m.acquirePathMetrics(p))
		t.mu.Lock()
		t.compressed[p] = d
		t.mu.Unlock()
		go d.run()
	}
	for _, p := range gone {
		d := t.compressed[p]
		if d == nil {
			continue
		}
		d.stop()
		d.wait()
		t.mu.Lock()
		delete(t.compressed, p)
		t.mu.Unlock()
		t.releaseDecompressor(d)
		d.detach()
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			t.m.pos.Remove(p)
		}
	}
}

// save records pos as the file's position while the target owns the file.
func (d *decompressor) save(pos int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.detached {
		d.t.m.pos.Put(d.path, pos)
	}
}

// detach stops save from writing: after it returns, no acknowledgement
// writes the position back.
func (d *decompressor) detach() {
	d.mu.Lock()
	d.detached = true
	d.mu.Unlock()
}

// reapDecompressor handles a decompressor that has finished. One that read
// its file stays in the target, so the file is not read again and counts for
// readiness; one that could not open it is dropped and retried at the next
// sync.
func (t *target) reapDecompressor(d *decompressor) {
	t.releaseDecompressor(d)
	if d.openErr == nil {
		return
	}
	t.note(d.path, "cannot open file, will retry at the next sync", "err", d.openErr)
	t.mu.Lock()
	if t.compressed[d.path] == d {
		delete(t.compressed, d.path)
	}
	t.mu.Unlock()
}

func (t *target) releaseDecompressor(d *decompressor) {
	if d.released {
		return
	}
	d.released = true
	t.m.releasePathMetrics(d.pm)
}

func checkDecompression(format string) error {
	if _, ok := decompressionFormats[format]; !ok {
		return fmt.Errorf("unsupported decompression format %q (supported: gz, z, bz2)", format)
	}
	return nil
}

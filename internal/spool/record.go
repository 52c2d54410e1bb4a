package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// A record is one entry on disk:
//
//	length  uint32 LE  length of the payload
//	crc     uint32 LE  CRC-32C of the payload
//	payload            uvarint-prefixed fields: append time, timestamp,
//	                   labels, structured metadata, line
//
// The checksum covers every byte that is replayed, so a record torn by a crash
// or damaged on disk is recognised and never sent.
const headerSize = 8

// maxRecord bounds the length a header may claim. It is far above any real
// line; a larger value means the header itself is damaged.
const maxRecord = 256 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	errTorn    = errors.New("record cut short")
	errCorrupt = errors.New("record damaged")
)

// appendRecord appends e's record to buf.
func appendRecord(buf []byte, e *stages.Entry, appended time.Time) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, headerSize)...)
	buf = binary.AppendVarint(buf, appended.UnixNano())
	buf = binary.AppendVarint(buf, e.Timestamp.UnixNano())
	buf = binary.AppendUvarint(buf, uint64(len(e.Labels)))
	for name, value := range e.Labels {
		buf = appendString(buf, string(name))
		buf = appendString(buf, string(value))
	}
	buf = binary.AppendUvarint(buf, uint64(len(e.StructuredMetadata)))
	for _, l := range e.StructuredMetadata {
		buf = appendString(buf, l.Name)
		buf = appendString(buf, l.Value)
	}
	buf = appendString(buf, e.Line)
	payload := buf[start+headerSize:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// checkHeader returns the payload length a header announces.
func checkHeader(h []byte) (int, error) {
	n := binary.LittleEndian.Uint32(h)
	if n > maxRecord {
		return 0, fmt.Errorf("%w: length %d", errCorrupt, n)
	}
	return int(n), nil
}

// checkPayload verifies a payload against its header's checksum.
func checkPayload(h, payload []byte) error {
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(h[4:]) {
		return fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	return nil
}

// labelCache shares the label sets of decoded records: most records of a
// stream carry the same labels, and the client never changes an entry's labels.
type labelCache map[string]model.LabelSet

const maxCachedLabelSets = 4096

// decoder turns payloads back into entries.
type decoder struct {
	labels labelCache
}

// decode parses a verified payload. It returns errCorrupt for a payload that
// does not parse, which a checksum match makes unlikely but not impossible.
func (d *decoder) decode(p []byte) (e stages.Entry, appended time.Time, err error) {
	r := reader{b: p}
	appendedNs := r.varint()
	ts := r.varint()
	nLabels := r.uvarint()
	labelsStart := r.off
	for i := uint64(0); i < nLabels && r.err == nil; i++ {
		r.bytes()
		r.bytes()
	}
	labelBytes := p[labelsStart:r.off]
	nMeta := r.uvarint()
	if r.err == nil && nMeta > uint64(len(p)) {
		r.err = errCorrupt
	}
	var meta push.LabelsAdapter
	if r.err == nil && nMeta > 0 {
		meta = make(push.LabelsAdapter, 0, nMeta)
		for i := uint64(0); i < nMeta && r.err == nil; i++ {
			name, value := r.bytes(), r.bytes()
			meta = append(meta, push.LabelAdapter{Name: string(name), Value: string(value)})
		}
	}
	line := r.bytes()
	if r.err == nil && r.off != len(p) {
		r.err = errCorrupt
	}
	if r.err != nil {
		return stages.Entry{}, time.Time{}, fmt.Errorf("%w: payload does not parse", errCorrupt)
	}
	e = stages.Entry{
		Labels:             d.labelSet(labelBytes, nLabels),
		Timestamp:          time.Unix(0, ts),
		Line:               string(line),
		StructuredMetadata: meta,
	}
	return e, time.Unix(0, appendedNs), nil
}

func (d *decoder) labelSet(b []byte, n uint64) model.LabelSet {
	if ls, ok := d.labels[string(b)]; ok {
		return ls
	}
	if d.labels == nil || len(d.labels) >= maxCachedLabelSets {
		d.labels = make(labelCache)
	}
	ls := make(model.LabelSet, n)
	r := reader{b: b}
	for range n {
		name, value := r.bytes(), r.bytes()
		ls[model.LabelName(name)] = model.LabelValue(value)
	}
	d.labels[string(b)] = ls
	return ls
}

// reader reads uvarint-prefixed fields; the first error sticks.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.off += n
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.off += n
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.off) {
		r.err = errCorrupt
		return nil
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// A record is one batch on disk: the compressed push request a client built,
// so that sending it again after a restart costs one read and no encoding.
//
//	length  uint32 LE  length of the payload
//	crc     uint32 LE  CRC-32C of the payload
//	payload            varint append time (unix ns), uvarint entry count,
//	                   uvarint-prefixed tenant, then the request body
//
// The checksum covers every byte that is replayed, so a record torn by a crash
// or damaged on disk is recognised and never sent.
const headerSize = 8

// maxRecord bounds the length a header may claim. It is far above any real
// batch; a larger value means the header itself is damaged.
const maxRecord = 256 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	errTorn    = errors.New("record cut short")
	errCorrupt = errors.New("record damaged")
)

// Batch is one push request as the spool keeps it.
type Batch struct {
	Tenant string
	// Entries is how many log entries Body holds, for the metrics.
	Entries int
	// Body is the request body, compressed, ready to send.
	Body []byte
}

// appendRecord appends b's record to buf.
func appendRecord(buf []byte, b *Batch, appended time.Time) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, headerSize)...)
	buf = binary.AppendVarint(buf, appended.UnixNano())
	buf = binary.AppendUvarint(buf, uint64(b.Entries))
	buf = binary.AppendUvarint(buf, uint64(len(b.Tenant)))
	buf = append(buf, b.Tenant...)
	buf = append(buf, b.Body...)
	payload := buf[start+headerSize:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf
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

// decode parses a verified payload into a batch whose body is a copy, owned
// by the caller. A payload that does not parse, which a checksum match makes
// unlikely but not impossible, is errCorrupt.
func decode(p []byte) (b Batch, appended time.Time, err error) {
	ns, n := binary.Varint(p)
	if n <= 0 {
		return Batch{}, time.Time{}, fmt.Errorf("%w: append time", errCorrupt)
	}
	p = p[n:]
	entries, n := binary.Uvarint(p)
	if n <= 0 || entries > uint64(maxRecord) {
		return Batch{}, time.Time{}, fmt.Errorf("%w: entry count", errCorrupt)
	}
	p = p[n:]
	tlen, n := binary.Uvarint(p)
	if n <= 0 || tlen > uint64(len(p)-n) {
		return Batch{}, time.Time{}, fmt.Errorf("%w: tenant", errCorrupt)
	}
	p = p[n:]
	b = Batch{
		Tenant:  string(p[:tlen]),
		Entries: int(entries),
		Body:    append([]byte(nil), p[tlen:]...),
	}
	return b, time.Unix(0, ns), nil
}

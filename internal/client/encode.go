package client

import (
	"encoding/binary"
	"math/bits"
	"time"

	"github.com/grafana/loki/pkg/push"
)

// The push request is written by hand rather than through the gogo
// generated marshaller: each entry is encoded once, when it joins its stream,
// into pointer-free chunks, so a pending batch does not pin every line's
// string for the garbage collector to scan, and sending is a concatenation
// fed straight to the compressor.
// The bytes are those gogo produces for the same request (checked in the
// tests): fields in number order, empty strings and zero numbers omitted, the
// timestamp always present.
//
//	PushRequest       1: repeated StreamAdapter streams
//	StreamAdapter     1: string labels, 2: repeated EntryAdapter entries
//	EntryAdapter      1: Timestamp timestamp, 2: string line,
//	                  3: repeated LabelPairAdapter structuredMetadata
//	Timestamp         1: int64 seconds, 2: int32 nanos
//	LabelPairAdapter  1: string name, 2: string value
const (
	tagField1Bytes  = 1<<3 | 2
	tagField2Bytes  = 2<<3 | 2
	tagField3Bytes  = 3<<3 | 2
	tagField1Varint = 1<<3 | 0
	tagField2Varint = 2<<3 | 0
)

// Loki refuses a whole request holding a timestamp outside [0001, 10000), so
// such an entry is dropped on its own instead.
var (
	minTimestamp = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxTimestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
)

func validTimestamp(t time.Time) bool {
	s := t.Unix()
	return s >= minTimestamp && s < maxTimestamp
}

func varintLen(x uint64) int {
	return (bits.Len64(x|1) + 6) / 7
}

func bytesFieldLen(n int) int {
	return 1 + varintLen(uint64(n)) + n
}

func labelPairLen(l push.LabelAdapter) int {
	n := 0
	if l.Name != "" {
		n += bytesFieldLen(len(l.Name))
	}
	if l.Value != "" {
		n += bytesFieldLen(len(l.Value))
	}
	return n
}

// appendFieldHeader appends the tag and length of a length-delimited field.
func appendFieldHeader(dst []byte, tag byte, n int) []byte {
	dst = append(dst, tag)
	return binary.AppendUvarint(dst, uint64(n))
}

// appendStreamLabels appends the labels field of a StreamAdapter.
func appendStreamLabels(dst []byte, labels []byte) []byte {
	if len(labels) == 0 {
		return dst
	}
	return append(appendFieldHeader(dst, tagField1Bytes, len(labels)), labels...)
}

// maxEntryHeader bounds what appendEntryHeader appends: five tags, three
// lengths, the seconds and the nanoseconds (below 10^9, five bytes).
const maxEntryHeader = 5 + 4*binary.MaxVarintLen64 + 5

// appendEntryHeader appends what comes before the line's bytes in an entries
// field of a StreamAdapter: the field's tag and length, the timestamp, and the
// line's tag and length. The line, then the structured metadata pairs, follow.
func appendEntryHeader(dst []byte, ts time.Time, line string, metadata push.LabelsAdapter) []byte {
	secs := uint64(ts.Unix())
	nanos := uint64(ts.Nanosecond())
	tsLen := 0
	if secs != 0 {
		tsLen += 1 + varintLen(secs)
	}
	if nanos != 0 {
		tsLen += 1 + varintLen(nanos)
	}
	entryLen := bytesFieldLen(tsLen)
	if line != "" {
		entryLen += bytesFieldLen(len(line))
	}
	for _, l := range metadata {
		entryLen += bytesFieldLen(labelPairLen(l))
	}

	dst = appendFieldHeader(dst, tagField2Bytes, entryLen)
	dst = appendFieldHeader(dst, tagField1Bytes, tsLen)
	if secs != 0 {
		dst = append(dst, tagField1Varint)
		dst = binary.AppendUvarint(dst, secs)
	}
	if nanos != 0 {
		dst = append(dst, tagField2Varint)
		dst = binary.AppendUvarint(dst, nanos)
	}
	if line != "" {
		dst = appendFieldHeader(dst, tagField2Bytes, len(line))
	}
	return dst
}

// metadataSize is what structured metadata adds to Promtail's batch size: the
// protobuf size of each pair.
func metadataSize(metadata push.LabelsAdapter) int {
	n := 0
	for _, l := range metadata {
		n += labelPairLen(l)
	}
	return n
}

package client

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/golang/snappy"
)

// Whatever the cuts between writes, the compressor must give one snappy block
// of their concatenation that Loki's decoder (golang/snappy) reads back, and
// about as small as snappy.Encode's.
func TestCompressorMakesOneSnappyBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	random := make([]byte, 300<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	text := bytes.Repeat([]byte("osquery result line with some repetition 0123456789\n"), 8000)
	cuts := func(data []byte, sizes ...int) [][]byte {
		var parts [][]byte
		for i := 0; len(data) > 0; i++ {
			n := min(sizes[i%len(sizes)], len(data))
			parts = append(parts, data[:n])
			data = data[n:]
		}
		return parts
	}
	tests := []struct {
		name   string
		writes [][]byte
	}{
		{"nothing", nil},
		{"empty writes", [][]byte{{}, {}}},
		{"shorter than a snappy copy", [][]byte{[]byte("tiny")}},
		{"one window exactly", [][]byte{text[:snappyBlockSize]}},
		{"one byte past a window", [][]byte{text[:snappyBlockSize+1]}},
		{"large write straight through", [][]byte{text}},
		{"small writes across windows", cuts(text, 1, 7, 2048, 13, 5000)},
		{"window part filled, then a large write", cuts(text, 100, 200<<10)},
		{"incompressible", cuts(random, 2048, 70000)},
	}
	var z compressor
	var buf []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			whole := bytes.Join(tt.writes, nil)
			z.start(buf, len(whole))
			for _, w := range tt.writes {
				z.write(w)
			}
			got := z.finish()
			back, err := snappy.Decode(nil, got)
			if err != nil || !bytes.Equal(back, whole) {
				t.Fatalf("does not decode to the input: %v", err)
			}
			if want := snappy.Encode(nil, whole); len(got) > len(want)+len(want)/10 {
				t.Fatalf("got %d bytes, more than 10%% above snappy.Encode's %d", len(got), len(want))
			}
			buf = got // the next case reuses the buffer
		})
	}
}

func TestPayloadBufferReturnsAfterLastRelease(t *testing.T) {
	spare := newSpareBuffer(1 << 10)
	data := append(make([]byte, 0, 100), "compressed"...)
	p := newPayload(data, spare)
	first, second := p.newReader(), p.newReader()
	p.release()

	got, err := io.ReadAll(first)
	if err != nil || string(got) != "compressed" {
		t.Fatalf("body read %q, %v", got, err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	_ = first.Close() // a second Close must not release twice
	if _, err := first.Read(make([]byte, 1)); !errors.Is(err, errBodyClosed) {
		t.Errorf("Read after Close: %v, want errBodyClosed", err)
	}
	if b := spare.get(); b != nil {
		t.Fatal("buffer handed back while a body is still open")
	}
	_ = second.Close()
	b := spare.get()
	if len(b) != 0 || cap(b) != 100 || &b[:1][0] != &data[0] {
		t.Fatalf("spare is len %d cap %d, want the payload's buffer, emptied", len(b), cap(b))
	}
	if spare.get() != nil {
		t.Error("one buffer handed out twice")
	}
}

func TestSpareBufferBounds(t *testing.T) {
	spare := newSpareBuffer(64)
	spare.put(make([]byte, 10, 65))
	if spare.get() != nil {
		t.Error("buffer above maxCap kept")
	}
	spare.put(make([]byte, 0, 64))
	spare.put(make([]byte, 0, 32))
	if b := spare.get(); cap(b) != 64 {
		t.Errorf("kept cap %d, want the first buffer (64)", cap(b))
	}
	if spare.get() != nil {
		t.Error("more than one buffer kept")
	}
}

// A body the transport never closes keeps its buffer from reuse.
func TestPayloadBodyNeverClosed(t *testing.T) {
	spare := newSpareBuffer(1 << 10)
	p := newPayload(make([]byte, 0, 8), spare)
	_ = p.newReader()
	p.release()
	if spare.get() != nil {
		t.Error("buffer reused while a body may still read it")
	}
}

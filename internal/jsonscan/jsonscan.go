// Package jsonscan steps through JSON text without decoding it, checking it
// by the grammar of RFC 8259 as encoding/json reads it: strings may hold any
// byte but control characters (their UTF-8 is not checked), escapes and
// numbers must be well formed. Callers find where values start and end and
// decode only what they need.
//
// What it accepts, fastjson accepts too (up to fastjson's nesting limit), so
// a caller that falls back to fastjson on any error keeps fastjson's verdict.
package jsonscan

import (
	"errors"
	"fmt"
	"math/bits"
)

// ErrSyntax is returned at the first byte that does not fit the grammar.
var ErrSyntax = errors.New("not JSON")

// ErrTooDeep is returned for arrays and objects nested deeper than
// MaxDepth; it wraps ErrSyntax.
var ErrTooDeep = fmt.Errorf("%w: nested too deeply", ErrSyntax)

// Scanner reads B from I. Each method starts at the first byte of what it
// reads and leaves I after it.
type Scanner struct {
	B []byte
	I int
	// MaxDepth is how deeply arrays and objects may nest; past it they are
	// refused with ErrTooDeep. Methods recurse once per level.
	MaxDepth int
	// Spaced is set whenever whitespace is skipped.
	Spaced bool
	depth  int
}

// Peek returns the byte at I, or 0 at the end.
func (s *Scanner) Peek() byte {
	if s.I < len(s.B) {
		return s.B[s.I]
	}
	return 0
}

// WS skips whitespace.
func (s *Scanner) WS() {
	// Machine-written JSON, osquery's included, has none between tokens:
	// one test answers for most calls.
	if s.I < len(s.B) && s.B[s.I] > ' ' {
		return
	}
	start := s.I
	for s.I < len(s.B) {
		switch s.B[s.I] {
		case ' ', '\t', '\n', '\r':
			s.I++
			continue
		}
		break
	}
	if s.I > start {
		s.Spaced = true
	}
}

// AtEnd skips trailing whitespace and tells whether nothing else follows.
func (s *Scanner) AtEnd() bool {
	s.WS()
	return s.I == len(s.B)
}

// Value steps over one value.
func (s *Scanner) Value() error {
	switch c := s.Peek(); {
	case c == '{':
		if s.flatObject() {
			return nil
		}
		return s.Object(nil)
	case c == '[':
		return s.Array(nil)
	case c == '"':
		_, err := s.String()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || isDigit(c):
		return s.number()
	}
	return ErrSyntax
}

// Object reads an object, calling member for each member with its key as
// written, quotes included, positioned on the first byte of the member's
// value, which member must step over. A nil member steps over every value.
func (s *Scanner) Object(member func(key []byte) error) error {
	return s.container('}', member, nil)
}

// Array reads an array, calling elem on the first byte of each element,
// which elem must step over. A nil elem steps over every element.
func (s *Scanner) Array(elem func() error) error {
	return s.container(']', nil, elem)
}

func (s *Scanner) container(end byte, member func(key []byte) error, elem func() error) error {
	if s.depth++; s.depth > s.MaxDepth {
		return ErrTooDeep
	}
	s.I++
	s.WS()
	if s.Peek() == end {
		s.I++
		s.depth--
		return nil
	}
	for {
		var err error
		switch {
		case end == '}':
			err = s.memberValue(member)
		case elem != nil:
			err = elem()
		default:
			err = s.Value()
		}
		if err != nil {
			return err
		}
		s.WS()
		switch s.Peek() {
		case ',':
			s.I++
			s.WS()
		case end:
			s.I++
			s.depth--
			return nil
		default:
			return ErrSyntax
		}
	}
}

// flatObject steps over an object whose values are all strings, written
// without whitespace or escapes, as osquery writes its columns, in one loop
// instead of a call per token. On anything else it leaves I where it was
// and reports false, and the general path reads the object (and gives its
// verdict).
func (s *Scanner) flatObject() bool {
	if s.depth >= s.MaxDepth {
		return false
	}
	b, i := s.B, s.I+1
	if i < len(b) && b[i] == '}' {
		s.I = i + 1
		return true
	}
	for {
		if i = plainString(b, i); i < 0 || i >= len(b) || b[i] != ':' {
			return false
		}
		if i = plainString(b, i+1); i < 0 || i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			s.I = i + 1
			return true
		default:
			return false
		}
	}
}

// plainString returns the index after the string that starts at b[i] if it
// holds no escape and no control character, else -1.
func plainString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	j := IndexSpecial(b, i+1)
	if j == len(b) || b[j] != '"' {
		return -1
	}
	return j + 1
}

// memberValue reads a key and its colon, then the value through member.
func (s *Scanner) memberValue(member func(key []byte) error) error {
	if s.Peek() != '"' {
		return ErrSyntax
	}
	key, err := s.String()
	if err != nil {
		return err
	}
	s.WS()
	if s.Peek() != ':' {
		return ErrSyntax
	}
	s.I++
	s.WS()
	if member != nil {
		return member(key)
	}
	return s.Value()
}

// String reads a string and returns it as written, quotes included.
func (s *Scanner) String() ([]byte, error) {
	b, i := s.B, s.I+1
	for {
		i = IndexSpecial(b, i)
		if i == len(b) {
			s.I = i
			return nil, ErrSyntax
		}
		switch c := b[i]; {
		case c == '"':
			quoted := b[s.I : i+1]
			s.I = i + 1
			return quoted, nil
		case c == '\\':
			i++
			if i == len(b) {
				s.I = i
				return nil, ErrSyntax
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					s.I = i
					return nil, ErrSyntax
				}
				i += 5
			default:
				s.I = i
				return nil, ErrSyntax
			}
		default: // a control character
			s.I = i
			return nil, ErrSyntax
		}
	}
}

// IndexSpecial returns the index of the first byte of s at or after i that
// a JSON string cannot hold as it is (a quote, a backslash or a control
// character), or len(s) if there is none. Most bytes of a string are none of
// those: it steps over them eight at a time.
func IndexSpecial[T ~string | ~[]byte](s T, i int) int {
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8]
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		if m := specialBytes(w); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(s); i++ {
		if special[s[i]] {
			return i
		}
	}
	return i
}

const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// specialBytes sets the high bit of the bytes of w, eight bytes of a string
// in memory order, that special marks. The lowest bit set is exact; bits
// above it may be set for bytes that are not special (a borrow carries into
// the next byte), which callers never look at.
func specialBytes(w uint64) uint64 {
	quote := w ^ ('"' * lowBits)
	backslash := w ^ ('\\' * lowBits)
	return ((quote-lowBits)&^quote | (backslash-lowBits)&^backslash | (w-0x20*lowBits)&^w) & highBits
}

func (s *Scanner) number() error {
	if s.Peek() == '-' {
		s.I++
	}
	switch c := s.Peek(); {
	case c == '0':
		s.I++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return ErrSyntax
	}
	if s.Peek() == '.' {
		s.I++
		if !isDigit(s.Peek()) {
			return ErrSyntax
		}
		s.digits()
	}
	if c := s.Peek(); c == 'e' || c == 'E' {
		s.I++
		if c := s.Peek(); c == '+' || c == '-' {
			s.I++
		}
		if !isDigit(s.Peek()) {
			return ErrSyntax
		}
		s.digits()
	}
	return nil
}

func (s *Scanner) digits() {
	for s.I < len(s.B) && isDigit(s.B[s.I]) {
		s.I++
	}
}

func (s *Scanner) literal(word string) error {
	if end := s.I + len(word); end > len(s.B) || string(s.B[s.I:end]) != word {
		return ErrSyntax
	}
	s.I += len(word)
	return nil
}

// special marks the bytes a string cannot hold as they are: its closing
// quote, a backslash and the control characters.
var special = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

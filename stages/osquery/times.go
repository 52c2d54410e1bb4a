package osquery

import (
	"strings"
	"time"
)

// parseCalendarTime reads osquery's calendarTime: C asctime() of the UTC
// query time plus " UTC", e.g. "Mon Mar  3 09:05:07 2025 UTC" with the day
// padded by a space. It accepts what Go's "Mon Jan _2 15:04:05 2006 MST"
// layout accepts for osquery's values (a one- or two-digit day, names in any
// case, a zero-padded day) and also the form without a zone that old osquery
// docs show. The zone must be UTC or GMT: any other one would need a time
// zone database to be right, so the caller falls back to unixTime instead.
// It is hand-written because time.Parse is the slowest part of a line.
func parseCalendarTime(b []byte) (time.Time, bool) {
	p := cursor[[]byte]{b: b, ok: true}
	p.name(weekdays[:])
	p.expect(' ')
	month := p.nameIndex(months[:]) + 1
	p.expect(' ')
	p.optional(' ')
	day := p.number(1, 2)
	p.expect(' ')
	hour := p.number(2, 2)
	p.expect(':')
	minute := p.number(2, 2)
	p.expect(':')
	sec := p.number(2, 2)
	p.expect(' ')
	year := p.number(4, 4)
	if !p.ok {
		return time.Time{}, false
	}
	if rest := p.b[p.i:]; len(rest) != 0 && string(rest) != " UTC" && string(rest) != " GMT" {
		return time.Time{}, false
	}
	if day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Unix(unixSeconds(year, month, day, hour, minute, sec), 0).UTC(), true
}

var (
	weekdays = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	months   = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// cursor walks a fixed-layout text. The first mismatch clears ok, and every
// later read is then a no-op, so a parser checks ok once at the end.
type cursor[T string | []byte] struct {
	b  T
	i  int
	ok bool
}

func (c *cursor[T]) expect(ch byte) {
	if c.ok && c.i < len(c.b) && c.b[c.i] == ch {
		c.i++
		return
	}
	c.ok = false
}

func (c *cursor[T]) optional(ch byte) {
	if c.ok && c.i < len(c.b) && c.b[c.i] == ch {
		c.i++
	}
}

// number reads between min and max decimal digits.
func (c *cursor[T]) number(min, max int) int {
	if !c.ok {
		return 0
	}
	n, start := 0, c.i
	for c.i < len(c.b) && c.i-start < max && isDigit(c.b[c.i]) {
		n = n*10 + int(c.b[c.i]-'0')
		c.i++
	}
	c.ok = c.i-start >= min
	return n
}

// nameIndex reads a three-letter name from names, ignoring ASCII case, and
// returns its index, or -1 after clearing ok.
func (c *cursor[T]) nameIndex(names []string) int {
	if c.ok && len(c.b)-c.i >= 3 {
		for i, n := range names {
			if lower(c.b[c.i]) == n[0]|0x20 && lower(c.b[c.i+1]) == n[1]|0x20 && lower(c.b[c.i+2]) == n[2]|0x20 {
				c.i += 3
				return i
			}
		}
	}
	c.ok = false
	return -1
}

func (c *cursor[T]) name(names []string) { c.nameIndex(names) }

func lower(ch byte) byte {
	if 'A' <= ch && ch <= 'Z' {
		return ch + 'a' - 'A'
	}
	return ch
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// unixSeconds converts a proleptic Gregorian UTC date and time to Unix
// seconds (days-from-civil), without time.Date's normalisation work.
func unixSeconds(year, month, day, hour, minute, sec int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	m := int64(month)
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := era*146097 + doe - 719468
	return days*86400 + int64(hour)*3600 + int64(minute)*60 + int64(sec)
}

// parseUnixSeconds reads a Unix time in seconds as osquery writes it: a JSON
// number or a numeric string, possibly with a fraction. Negative values and
// values past year 9999 are rejected as junk.
func parseUnixSeconds(b []byte) (time.Time, bool) {
	const maxSeconds = 253402300799 // 9999-12-31T23:59:59Z
	var sec int64
	i := 0
	for ; i < len(b) && isDigit(b[i]); i++ {
		sec = sec*10 + int64(b[i]-'0')
		if sec > maxSeconds {
			return time.Time{}, false
		}
	}
	if i == 0 {
		return time.Time{}, false
	}
	var nsec int64
	if i < len(b) && b[i] == '.' {
		i++
		scale := int64(100_000_000)
		start := i
		for ; i < len(b) && isDigit(b[i]); i++ {
			nsec += int64(b[i]-'0') * scale
			scale /= 10
		}
		if i == start {
			return time.Time{}, false
		}
	}
	if i != len(b) {
		return time.Time{}, false
	}
	return time.Unix(sec, nsec).UTC(), true
}

// glogLine is one status line of osquery's filesystem logger (glog text):
//
//	I0412 08:03:59.664191 3056837568 init.cpp:380] osquery initialized [version=2.4.0]
type glogLine struct {
	severity                                byte // '0'..'3' as in osquery's JSON status logs
	month, day, hour, minute, second, micro int
	thread, file, line, message             string
}

// parseGlog splits a glog line. The thread id may be padded with spaces.
func parseGlog(s string) (glogLine, bool) {
	var g glogLine
	if len(s) < 24 {
		return g, false
	}
	switch s[0] {
	case 'I':
		g.severity = '0'
	case 'W':
		g.severity = '1'
	case 'E':
		g.severity = '2'
	case 'F':
		g.severity = '3'
	default:
		return g, false
	}
	p := cursor[string]{b: s, i: 1, ok: true}
	g.month = p.number(2, 2)
	g.day = p.number(2, 2)
	p.expect(' ')
	g.hour = p.number(2, 2)
	p.expect(':')
	g.minute = p.number(2, 2)
	p.expect(':')
	g.second = p.number(2, 2)
	p.expect('.')
	g.micro = p.number(6, 6)
	p.expect(' ')
	if !p.ok || g.month < 1 || g.month > 12 || g.day < 1 || g.day > 31 || g.hour > 23 || g.minute > 59 || g.second > 59 {
		return g, false
	}
	for p.i < len(s) && s[p.i] == ' ' {
		p.i++
	}
	start := p.i
	p.number(1, 20)
	g.thread = s[start:p.i]
	p.expect(' ')
	if !p.ok {
		return g, false
	}
	rest := s[p.i:]
	end := indexCloseBracket(rest)
	if end < 0 {
		return g, false
	}
	loc := rest[:end]
	colon := strings.LastIndexByte(loc, ':')
	if colon <= 0 || colon == len(loc)-1 {
		return g, false
	}
	for j := colon + 1; j < len(loc); j++ {
		if !isDigit(loc[j]) {
			return g, false
		}
	}
	g.file, g.line = loc[:colon], loc[colon+1:]
	g.message = strings.TrimPrefix(rest[end+1:], " ")
	return g, true
}

// indexCloseBracket finds the "]" that ends glog's "file:line]" prefix; the
// file name has no spaces, so the search stops at the first one.
func indexCloseBracket(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ']':
			return i
		case ' ':
			return -1
		}
	}
	return -1
}

// time places a glog time stamp, which has neither year nor zone, in loc
// and in the latest year that does not put it after ref (the time the line
// was read) by more than a week of clock skew: a December line read in
// January belongs to the previous year.
func (g *glogLine) time(ref time.Time, loc *time.Location) (time.Time, bool) {
	const skew = 7 * 24 * time.Hour
	if ref.IsZero() {
		ref = time.Now()
	}
	ref = ref.In(loc)
	for y := ref.Year(); y >= ref.Year()-1; y-- {
		if g.day > daysIn(g.month, y) {
			continue // 29 February outside a leap year
		}
		t := time.Date(y, time.Month(g.month), g.day, g.hour, g.minute, g.second, g.micro*1000, loc)
		if !t.After(ref.Add(skew)) {
			return t, true
		}
	}
	return time.Time{}, false
}

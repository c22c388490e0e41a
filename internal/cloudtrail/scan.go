// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail // import "github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// eventScan reads a raw JSON event in one pass against the key table of
// what is read, validating all of it as RFC 8259 JSON, and builds nothing
// but the wanted strings: a value without escapes is a substring of the
// text, not a copy (holders that keep one past the batch clone it). A
// parser would build the whole tree first; the scan costs a fraction of it.
type eventScan struct {
	s  string
	ev *Event
	// The object's own eventSource and eventName as first written (a
	// lookup by key would find them), and the kind of their values:
	// 0 absent, 's' a string, 'v' another value.
	src, act         string
	srcKind, actKind byte
	// An EventBridge event's first detail member and its kind ('o' an
	// object, 'v' another value), and whether it has a detail-type.
	detail     string
	detailKind byte
	detailType bool
	err        error
}

// run reads the event object s into ev, reset first; the caller decides
// from the source and action found whether it is one read.
func (sc *eventScan) run(s string, ev *Event) error {
	ev.Reset()
	*sc = eventScan{s: s, ev: ev}
	i := skipSpace(s, 0)
	if i == len(s) || s[i] != '{' {
		return errNotObject
	}
	if i = sc.object(i, 1, &native, true); i >= 0 && skipSpace(s, i) != len(s) {
		sc.fail(skipSpace(s, i), "text after the object")
	}
	return sc.err
}

func (sc *eventScan) fail(i int, what string) int {
	if sc.err == nil {
		sc.err = fmt.Errorf("invalid JSON at offset %d: %s", i, what)
	}
	return -1
}

// object reads the object opening at s[i] against t and returns where it
// ends (-1 on an error). top marks the event's own level.
func (sc *eventScan) object(i, depth int, t *keyTable[nativeNode], top bool) int {
	s, done := sc.s, false
	if i, done = sc.open(i, depth, '}'); done {
		return i
	}
	for {
		if i == len(s) || s[i] != '"' {
			return sc.fail(i, "expected a key")
		}
		end, escaped := sc.str(i)
		if end < 0 {
			return -1
		}
		key := s[i+1 : end-1]
		if escaped {
			key = unescape(key)
		}
		ok := false
		if i, ok = afterColon(s, end); !ok {
			return sc.fail(i, "expected ':'")
		}
		if i = sc.member(i, depth, t, top, key); i < 0 {
			return -1
		}
		if i, done = sc.after(i, '}'); done {
			return i
		}
	}
}

// open enters the container opening at s[i] at depth and returns where
// its first member or element begins, or (done) where it ends, empty, or
// -1 when it nests too deep.
func (sc *eventScan) open(i, depth int, closer byte) (int, bool) {
	if depth > MaxDepth {
		sc.err = errTooDeep
		return -1, true
	}
	if i = skipSpace(sc.s, i+1); i < len(sc.s) && sc.s[i] == closer {
		return i + 1, true
	}
	return i, false
}

// after reads what follows a member or an element ending at s[i]: the
// container's closer (done, and where it ends) or a comma (where the next
// one begins).
func (sc *eventScan) after(i int, closer byte) (int, bool) {
	s := sc.s
	switch i = skipSpace(s, i); {
	case i == len(s):
		return sc.fail(i, "not closed"), true
	case s[i] == closer:
		return i + 1, true
	case s[i] != ',':
		return sc.fail(i, "expected ',' or '"+string(closer)+"'"), true
	}
	return skipSpace(s, i+1), false
}

// member reads the value of key at s[i] as t says and returns its end.
func (sc *eventScan) member(i, depth int, t *keyTable[nativeNode], top bool, key string) int {
	s := sc.s
	if i == len(s) {
		return sc.fail(i, "value missing")
	}
	if top {
		switch key {
		case "eventSource", "eventName":
			return sc.ownField(i, depth, key)
		case detailKey:
			start, end := i, sc.skip(i, depth)
			if sc.detailKind == 0 && end >= 0 {
				sc.detail, sc.detailKind = s[start:end], kindOf(s[start])
			}
			return end
		case detailTypeKey:
			sc.detailType = true
		}
	}
	n, ok := get(t, key)
	switch {
	case !ok:
	case n.items && s[i] == '[':
		return sc.items(i, depth+1, n.sub)
	case n.items:
	case n.sub != nil && s[i] == '{':
		return sc.object(i, depth+1, n.sub, false)
	case n.sub != nil:
	case n.anyValue && s[i] != '"':
		start, end := i, sc.skip(i, depth)
		if end >= 0 && presentJSON(s[start:end]) {
			store(n.field(sc.ev), s[start:end])
		}
		return end
	case s[i] == '"':
		v, end := sc.stringValue(i)
		if end >= 0 {
			if n.add != nil {
				n.add(sc.ev, v)
			} else {
				store(n.field(sc.ev), v)
			}
		}
		return end
	}
	return sc.skip(i, depth)
}

// ownField reads the event's own eventSource or eventName: kept as a field
// like the others, and remembered as first written with its kind.
func (sc *eventScan) ownField(i, depth int, key string) int {
	val, kind := &sc.src, &sc.srcKind
	field := &sc.ev.Provider
	if key == "eventName" {
		val, kind, field = &sc.act, &sc.actKind, &sc.ev.Action
	}
	if sc.s[i] != '"' {
		if *kind == 0 {
			*kind = 'v'
		}
		return sc.skip(i, depth)
	}
	v, end := sc.stringValue(i)
	if end >= 0 {
		if *kind == 0 {
			*val, *kind = v, 's'
		}
		store(field, v)
	}
	return end
}

func kindOf(c byte) byte {
	if c == '{' {
		return 'o'
	}
	return 'v'
}

// items reads the array opening at s[i], each object in it against t.
func (sc *eventScan) items(i, depth int, t *keyTable[nativeNode]) int {
	s, done := sc.s, false
	if i, done = sc.open(i, depth, ']'); done {
		return i
	}
	for {
		switch {
		case i == len(s):
			return sc.fail(i, "value missing")
		case s[i] == '{':
			i = sc.object(i, depth+1, t, false)
		default:
			i = sc.skip(i, depth)
		}
		if i < 0 {
			return -1
		}
		if i, done = sc.after(i, ']'); done {
			return i
		}
	}
}

// skip validates the value at s[i] (depth is its container's) and returns
// its end.
func (sc *eventScan) skip(i, depth int) int {
	s := sc.s
	if i == len(s) {
		return sc.fail(i, "value missing")
	}
	switch c := s[i]; {
	case c == '"':
		end, _ := sc.str(i)
		return end
	case c == '{':
		return sc.object(i, depth+1, &emptyTable, false)
	case c == '[':
		return sc.items(i, depth+1, &emptyTable)
	case c == '-' || c >= '0' && c <= '9':
		return sc.number(i)
	case strings.HasPrefix(s[i:], "true"):
		return i + 4
	case strings.HasPrefix(s[i:], "false"):
		return i + 5
	case strings.HasPrefix(s[i:], "null"):
		return i + 4
	}
	return sc.fail(i, "expected a value")
}

// validJSON reports whether s is one JSON value, as RFC 8259 has it
// (fastjson.Validate misses a control character before an escape).
func validJSON(s string) bool {
	sc := eventScan{s: s}
	end := sc.skip(skipSpace(s, 0), 0)
	return end >= 0 && skipSpace(s, end) == len(s)
}

// emptyTable wants nothing: the containers it reads are validated only.
var emptyTable keyTable[nativeNode]

// number validates the number at s[i]: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?
func (sc *eventScan) number(i int) int {
	s, start := sc.s, i
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i)
	default:
		return sc.fail(start, "bad number")
	}
	if i < len(s) && s[i] == '.' {
		if j := digits(s, i+1); j > i+1 {
			i = j
		} else {
			return sc.fail(start, "bad number")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		if i++; i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if j := digits(s, i); j > i {
			i = j
		} else {
			return sc.fail(start, "bad number")
		}
	}
	return i
}

func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// plainByte marks the bytes that stand for themselves in a string: not
// the quote, the backslash or a control character.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str validates the string opening at s[i] and returns the index after its
// closing quote (-1 on an error) and whether it holds escapes. Sixteen
// bytes at a time are read one by one (keys, most values, the runs between
// an escaped event's escapes are shorter); a longer run is crossed with
// IndexByte and its control characters checked eight bytes at a time.
func (sc *eventScan) str(i int) (int, bool) {
	s, escaped := sc.s, false
	for j := i + 1; ; {
		for short := min(len(s), j+16); j < short && plainByte[s[j]]; j++ {
		}
		switch {
		case j == len(s):
			return sc.fail(j, "string not closed"), false
		case s[j] == '"':
			return j + 1, escaped
		case s[j] == '\\':
			escaped = true
			if j = sc.escape(j); j < 0 {
				return -1, false
			}
			continue
		case s[j] < 0x20:
			return sc.fail(j, "control character in a string"), false
		}
		// A long plain run: up to the next quote or backslash at once.
		k := strings.IndexByte(s[j:], '"')
		if k < 0 {
			return sc.fail(len(s), "string not closed"), false
		}
		if b := strings.IndexByte(s[j:j+k], '\\'); b >= 0 {
			k = b
		}
		if hasControl(s[j : j+k]) {
			return sc.fail(j, "control character in a string"), false
		}
		j += k
	}
}

// escape validates the escape at s[j] and returns where it ends.
func (sc *eventScan) escape(j int) int {
	s := sc.s
	switch {
	case j+1 == len(s):
		return sc.fail(j, "string not closed")
	case strings.IndexByte(`"\\/bfnrt`, s[j+1]) >= 0:
		return j + 2
	case s[j+1] != 'u':
		return sc.fail(j, "bad escape")
	case j+6 > len(s) || !isHex4(s[j+2:j+6]):
		return sc.fail(j, "bad \\u escape")
	}
	return j + 6
}

// hasControl reports whether s holds a byte below 0x20, which JSON strings
// must escape; eight bytes at a time (a byte below n sets its high bit in
// x - n*0x01..01 where x's own high bit is clear).
func hasControl(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; len(s) >= 8; s = s[8:] {
		x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		if (x-0x20*ones)&^x&highs != 0 {
			return true
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 {
			return true
		}
	}
	return false
}

func isHex4(h string) bool {
	for i := range 4 {
		if c := h[i]; !(c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f') {
			return false
		}
	}
	return true
}

// stringValue is the string opening at s[i], unescaped, and its end.
func (sc *eventScan) stringValue(i int) (string, int) {
	end, escaped := sc.str(i)
	if end < 0 {
		return "", -1
	}
	v := sc.s[i+1 : end-1]
	if escaped {
		v = unescape(v)
	}
	return v, end
}

// unescape decodes the escapes of a validated string's contents into a
// string of its own, copying the runs between escapes whole; a lone
// surrogate becomes U+FFFD, as encoding/json has it. Keys of envelopes are
// read before they are validated, so any text must be safe: an escape cut
// short is kept as written.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for {
		k := strings.IndexByte(s, '\\')
		if k < 0 || k+1 == len(s) {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:k])
		c := s[k+1]
		s = s[k+2:]
		switch c {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			if len(s) < 4 {
				b.WriteString(`\u`)
				continue
			}
			r := hex4(s)
			s = s[4:]
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					r2 = hex4(s[2:])
				}
				if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
					r, s = pair, s[6:]
				} else {
					r = utf8.RuneError
				}
			}
			b.WriteRune(r)
		default: // '"', '\\', '/'
			b.WriteByte(c)
		}
	}
}

func hex4(s string) rune {
	n, _ := strconv.ParseUint(s[:4], 16, 32)
	return rune(n)
}

package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// PlainJSON reports whether s goes between a JSON string's quotes as it is,
// as encoding/json (and JSON.stringify) write it: printable ASCII without a
// quote or a backslash. Hand-written JSON on the delivery path writes such
// strings directly and leaves the rest to the encoder.
func PlainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// CanonicalJSON rewrites a JSON value exactly as JavaScript's
// JSON.stringify(JSON.parse(raw)) would, so that receivers that verify a
// signature over JSON.stringify(req.body) compute the bytes that were signed:
//
//   - no insignificant space, no HTML escaping;
//   - strings with only the escapes JSON.stringify uses ("\u003c" becomes "<",
//     "é" stays "é");
//   - numbers as JavaScript prints the IEEE-754 double they parse to (1.0 is
//     1, 1E3 is 1000; an integer beyond 2^53 is rounded as JavaScript rounds
//     it, so send such ids as strings; a number too large for a double is null);
//   - object keys in their original order, except that keys which are array
//     indexes ("0", "1", …) come first in ascending order, and a repeated key
//     keeps its first place with its last value, as in a JavaScript object.
func CanonicalJSON(raw []byte) ([]byte, error) {
	if asIs(raw) {
		return raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out bytes.Buffer
	if err := canonicalValue(dec, &out, 0); err != nil {
		return nil, fmt.Errorf("webhook: canonical JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("webhook: canonical JSON: more than one value")
	}
	return out.Bytes(), nil
}

// asIs reports whether raw is canonical already, as most events' data
// are: one pass, no allocation, where the decoder would take ten times as
// long. It accepts only a strict subset of the canonical form and leaves
// everything else to the full rewrite: no space, strings of printable
// ASCII without escapes, integers of at most 15 digits (exact as doubles,
// printed the same), and objects whose keys are distinct and not array
// indexes.
func asIs(raw []byte) bool {
	end, ok := asIsValue(raw, 0, 0)
	return ok && end == len(raw)
}

// asIsValue checks the value at raw[i:] and returns where it ends.
func asIsValue(raw []byte, i, depth int) (int, bool) {
	if i >= len(raw) || depth > maxDepth {
		return 0, false
	}
	switch c := raw[i]; {
	case c == '{':
		i++
		if i < len(raw) && raw[i] == '}' {
			return i + 1, true
		}
		var keys []string
		for {
			end, ok := asIsString(raw, i)
			if !ok || end >= len(raw) || raw[end] != ':' {
				return 0, false
			}
			key := string(raw[i+1 : end-1])
			if _, idx := arrayIndex(key); idx || len(keys) == maxAsIsKeys || slices.Contains(keys, key) {
				return 0, false
			}
			keys = append(keys, key)
			if i, ok = asIsValue(raw, end+1, depth+1); !ok || i >= len(raw) {
				return 0, false
			}
			switch raw[i] {
			case ',':
				i++
			case '}':
				return i + 1, true
			default:
				return 0, false
			}
		}
	case c == '[':
		i++
		if i < len(raw) && raw[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = asIsValue(raw, i, depth+1); !ok || i >= len(raw) {
				return 0, false
			}
			switch raw[i] {
			case ',':
				i++
			case ']':
				return i + 1, true
			default:
				return 0, false
			}
		}
	case c == '"':
		return asIsString(raw, i)
	case c == '-' || (c >= '0' && c <= '9'):
		j := i
		if c == '-' {
			j++
		}
		k := j
		for k < len(raw) && raw[k] >= '0' && raw[k] <= '9' {
			k++
		}
		// No leading zero, no -0, at most 15 digits, no fraction or exponent.
		if k == j || k-j > 15 || (raw[j] == '0' && (k-j > 1 || c == '-')) {
			return 0, false
		}
		if k < len(raw) && (raw[k] == '.' || raw[k] == 'e' || raw[k] == 'E') {
			return 0, false
		}
		return k, true
	}
	for _, lit := range []string{"true", "false", "null"} {
		if end := i + len(lit); end <= len(raw) && string(raw[i:end]) == lit {
			return end, true
		}
	}
	return 0, false
}

// maxAsIsKeys bounds the keys of an object asIs checks for repeats one by
// one; a larger object takes the full rewrite.
const maxAsIsKeys = 64

// asIsString checks the string at raw[i:] (its opening quote) and returns
// where it ends: printable ASCII without escapes.
func asIsString(raw []byte, i int) (int, bool) {
	if i >= len(raw) || raw[i] != '"' {
		return 0, false
	}
	for j := i + 1; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '"':
			return j + 1, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return 0, false
		}
	}
	return 0, false
}

// maxDepth bounds nesting, so that a hostile body cannot exhaust the stack.
const maxDepth = 64

func canonicalValue(dec *json.Decoder, out *bytes.Buffer, depth int) error {
	if depth > maxDepth {
		return errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			out.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out.WriteByte(',')
				}
				if err := canonicalValue(dec, out, depth+1); err != nil {
					return err
				}
			}
			_, err := dec.Token() // ]
			out.WriteByte(']')
			return err
		}
		return canonicalObject(dec, out, depth)
	case string:
		writeJSString(out, v)
	case json.Number:
		out.WriteString(jsNumber(v.String()))
	case bool:
		out.WriteString(strconv.FormatBool(v))
	case nil:
		out.WriteString("null")
	}
	return nil
}

func canonicalObject(dec *json.Decoder, out *bytes.Buffer, depth int) error {
	type member struct {
		key   string
		value []byte
	}
	var members []member
	index := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var val bytes.Buffer
		if err := canonicalValue(dec, &val, depth+1); err != nil {
			return err
		}
		if i, dup := index[key]; dup {
			members[i].value = val.Bytes()
			continue
		}
		index[key] = len(members)
		members = append(members, member{key, val.Bytes()})
	}
	if _, err := dec.Token(); err != nil { // }
		return err
	}
	// Array-index keys first, ascending; the rest keep their order.
	sort.SliceStable(members, func(i, j int) bool {
		a, aIdx := arrayIndex(members[i].key)
		b, bIdx := arrayIndex(members[j].key)
		switch {
		case aIdx && bIdx:
			return a < b
		default:
			return aIdx && !bIdx
		}
	})
	out.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			out.WriteByte(',')
		}
		writeJSString(out, m.key)
		out.WriteByte(':')
		out.Write(m.value)
	}
	out.WriteByte('}')
	return nil
}

// arrayIndex reports whether a key is a JavaScript array index: the
// canonical decimal form of an integer below 2^32-1.
func arrayIndex(k string) (uint64, bool) {
	if k == "" || len(k) > 10 || (len(k) > 1 && k[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(k, 10, 64)
	if err != nil || n >= math.MaxUint32 {
		return 0, false
	}
	return n, true
}

// jsNumber formats a JSON number literal as JavaScript's Number::toString
// does for the double it denotes.
func jsNumber(lit string) string {
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && (math.IsInf(f, 0) || math.IsNaN(f)) {
		return "null" // JSON.parse gives Infinity, which JSON.stringify writes as null
	}
	if f == 0 {
		return "0"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// Shortest round-trip digits d1.d2…dk and exponent e: f = 0.d1…dk × 10^n.
	m, e, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, 64), "e")
	digits := strings.Replace(m, ".", "", 1)
	exp, _ := strconv.Atoi(e)
	k, n := len(digits), exp+1
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits
	}
	expSign := "+"
	if n-1 < 0 {
		expSign = "-"
	}
	mant := digits[:1]
	if k > 1 {
		mant += "." + digits[1:]
	}
	return sign + mant + "e" + expSign + strconv.Itoa(abs(n-1))
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// writeJSString writes s quoted as JSON.stringify does.
func writeJSString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				b.WriteString(`\"`)
			case '\\':
				b.WriteString(`\\`)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				if c < 0x20 {
					b.WriteString(`\u00`)
					b.WriteByte(hex[c>>4])
					b.WriteByte(hex[c&0xF])
				} else {
					b.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(`\ufffd`)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}

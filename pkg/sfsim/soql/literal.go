package soql

import (
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// maxLiteralLen is the longest string literal Salesforce accepts in a WHERE
// clause, in characters.
const maxLiteralLen = 4000

// likeElem is one element of a compiled LIKE pattern.
type likeElem struct {
	kind byte // 'c' a character, '%' any run, '_' exactly one character
	r    rune
}

// decodeString decodes the raw body of a string literal token (between the
// quotes) per the SOQL escape table: \n \r \t \b \f (either case), \" \' \\
// and \uXXXX. With like set it also accepts \_ and \% and returns the LIKE
// pattern, in which unescaped % and _ are wildcards. Any other backslash
// sequence is an error, as is a literal longer than maxLiteralLen characters.
func decodeString(q string, t token, like bool) (string, []likeElem, *Error) {
	raw := t.text
	if strings.IndexByte(raw, '\\') < 0 && !like {
		if utf8.RuneCountInString(raw) > maxLiteralLen {
			return "", nil, errAt(q, t.pos, CodeMalformedQuery, "String literal is too long: the maximum is 4000 characters")
		}
		return raw, nil, nil
	}
	var b strings.Builder
	b.Grow(len(raw))
	var pat []likeElem
	addLiteral := func(s string) {
		b.WriteString(s)
		if like {
			for len(s) > 0 {
				r, n := utf8.DecodeRuneInString(s)
				pat = append(pat, likeElem{kind: 'c', r: r})
				s = s[n:]
			}
		}
	}
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			if like && (c == '%' || c == '_') {
				b.WriteByte(c)
				pat = append(pat, likeElem{kind: c})
				i++
				continue
			}
			_, n := utf8.DecodeRuneInString(raw[i:])
			addLiteral(raw[i : i+n])
			i += n
			continue
		}
		bad := func(seq string) *Error {
			return errAt(q, t.pos+1+i, CodeMalformedQuery,
				"Invalid string literal '"+seq+"'. Illegal character sequence '"+seq+"' in string literal.")
		}
		if i+1 >= len(raw) { // cannot happen: the lexer never ends a body on a lone backslash
			return "", nil, bad(`\`)
		}
		e := raw[i+1]
		switch e {
		case 'n', 'N':
			addLiteral("\n")
		case 'r', 'R':
			addLiteral("\r")
		case 't', 'T':
			addLiteral("\t")
		case 'b', 'B':
			addLiteral("\b")
		case 'f', 'F':
			addLiteral("\f")
		case '"', '\'', '\\':
			addLiteral(string(e))
		case '_', '%':
			if !like {
				return "", nil, bad(raw[i : i+2])
			}
			addLiteral(string(e))
		case 'u':
			r, ok := hex4(raw, i+2)
			if !ok {
				end := min(i+6, len(raw))
				return "", nil, bad(raw[i:end])
			}
			n := 6
			if utf16.IsSurrogate(r) {
				// A surrogate pair spelled as two escapes is one character.
				if lo, ok := hex4(raw, i+8); ok && i+7 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
					if pr := utf16.DecodeRune(r, lo); pr != utf8.RuneError {
						r, n = pr, 12
					}
				}
			}
			addLiteral(string(r)) // a lone surrogate becomes U+FFFD
			i += n
			continue
		default:
			_, n := utf8.DecodeRuneInString(raw[i+1:])
			return "", nil, bad(raw[i : i+1+n])
		}
		i += 2
	}
	s := b.String()
	if utf8.RuneCountInString(s) > maxLiteralLen {
		return "", nil, errAt(q, t.pos, CodeMalformedQuery, "String literal is too long: the maximum is 4000 characters")
	}
	return s, pat, nil
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

const secondsPerDay = 86400

// dayNumber is the number of days since 1970-01-01 of the UTC calendar day t
// falls on.
func dayNumber(t time.Time) int64 {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / secondsPerDay
}

// parseDate parses YYYY-MM-DD into a day number.
func parseDate(s string) (int64, bool) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, false
	}
	return t.Unix() / secondsPerDay, true
}

// datetimeLayouts are the forms a datetime takes in queries (RFC 3339) and in
// records (Salesforce's "2026-11-27T02:45:40.000+0000").
var datetimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
}

// parseDateTime parses a datetime literal or record value.
func parseDateTime(s string) (time.Time, bool) {
	for _, l := range datetimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

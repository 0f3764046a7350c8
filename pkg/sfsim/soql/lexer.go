package soql

import (
	"strconv"
	"unicode/utf8"
)

type tokKind int

const (
	tEOF      tokKind = iota
	tIdent            // field, object, keyword or alias
	tNumber           // 12, -3, 4.5
	tString           // '…' (text holds the raw body, escapes undecoded)
	tDate             // 2026-11-27
	tDateTime         // 2026-11-27T10:00:00Z, …T10:00:00.123+02:00
	tPunct            // ( ) , . : = != <> < > <= >=
)

type token struct {
	kind tokKind
	text string // source text; for tString the body between the quotes
	pos  int    // byte offset of the token's first character in the query
	end  int    // byte offset just past the token
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isIdentChar(c byte) bool {
	return isLetter(c) || isDigit(c) || c == '_'
}

// lex splits q into tokens. It only fails on characters and literals that no
// SOQL statement can contain; everything grammatical is the parser's job.
func lex(q string) ([]token, *Error) {
	var toks []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isLetter(c):
			j := i + 1
			for j < len(q) && isIdentChar(q[j]) {
				j++
			}
			toks = append(toks, token{kind: tIdent, text: q[i:j], pos: i, end: j})
			i = j
		case isDigit(c) || (c == '-' || c == '+') && i+1 < len(q) && isDigit(q[i+1]):
			t, err := lexNumberOrDate(q, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = t.end
		case c == '\'':
			j := i + 1
			for {
				if j >= len(q) {
					return nil, errAt(q, i, CodeMalformedQuery, "unterminated string literal")
				}
				if q[j] == '\\' {
					j += 2
					continue
				}
				if q[j] == '\'' {
					break
				}
				j++
			}
			toks = append(toks, token{kind: tString, text: q[i+1 : j], pos: i, end: j + 1})
			i = j + 1
		case c == '!' || c == '<' || c == '>':
			j := i + 1
			if j < len(q) && (q[j] == '=' || c == '<' && q[j] == '>') {
				j++
			}
			if c == '!' && j == i+1 {
				return nil, noViable(q, i)
			}
			toks = append(toks, token{kind: tPunct, text: q[i:j], pos: i, end: j})
			i = j
		case c == '(' || c == ')' || c == ',' || c == '.' || c == ':' || c == '=':
			toks = append(toks, token{kind: tPunct, text: q[i : i+1], pos: i, end: i + 1})
			i++
		default:
			return nil, noViable(q, i)
		}
	}
	toks = append(toks, token{kind: tEOF, pos: len(q), end: len(q)})
	return toks, nil
}

// noViable reports a character no token starts with (a double quote, '*',
// ';', a control character, …) in the words of Salesforce's parser.
func noViable(q string, i int) *Error {
	r, _ := utf8.DecodeRuneInString(q[i:])
	ch := string(r)
	if r == utf8.RuneError {
		ch = strconv.QuoteToASCII(q[i : i+1])
	}
	return errAt(q, i, CodeMalformedQuery, "no viable alternative at character '"+ch+"'")
}

// lexNumberOrDate reads a number (optionally signed, optional fraction), a
// date (YYYY-MM-DD) or a datetime (YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)).
// Validity of the calendar values is checked by the parser.
func lexNumberOrDate(q string, i int) (token, *Error) {
	digitsAt := func(j, n int) bool {
		if j+n > len(q) {
			return false
		}
		for k := j; k < j+n; k++ {
			if !isDigit(q[k]) {
				return false
			}
		}
		return true
	}
	kind := tNumber
	j := i
	if isDigit(q[i]) && digitsAt(i, 4) && i+4 < len(q) && q[i+4] == '-' {
		// A date, or nothing valid at all.
		if !(digitsAt(i+5, 2) && i+7 < len(q) && q[i+7] == '-' && digitsAt(i+8, 2)) {
			return token{}, errAt(q, i, CodeMalformedQuery, "invalid date literal")
		}
		kind, j = tDate, i+10
		if j < len(q) && q[j] == 'T' {
			kind = tDateTime
			if !(digitsAt(j+1, 2) && j+3 < len(q) && q[j+3] == ':' && digitsAt(j+4, 2) && j+6 < len(q) && q[j+6] == ':' && digitsAt(j+7, 2)) {
				return token{}, errAt(q, i, CodeMalformedQuery, "invalid datetime literal")
			}
			j += 9
			if j < len(q) && q[j] == '.' {
				j++
				k := j
				for j < len(q) && isDigit(q[j]) {
					j++
				}
				if j == k {
					return token{}, errAt(q, i, CodeMalformedQuery, "invalid datetime literal")
				}
			}
			switch {
			case j < len(q) && q[j] == 'Z':
				j++
			case j < len(q) && (q[j] == '+' || q[j] == '-') && digitsAt(j+1, 2) && j+3 < len(q) && q[j+3] == ':' && digitsAt(j+4, 2):
				j += 6
			default:
				return token{}, errAt(q, i, CodeMalformedQuery, "invalid datetime literal: a time zone (Z or ±hh:mm) is required")
			}
		}
	} else {
		j++ // sign or first digit
		for j < len(q) && isDigit(q[j]) {
			j++
		}
		if j < len(q) && q[j] == '.' {
			j++
			k := j
			for j < len(q) && isDigit(q[j]) {
				j++
			}
			if j == k {
				return token{}, errAt(q, i, CodeMalformedQuery, "invalid number literal")
			}
		}
	}
	if j < len(q) && (isIdentChar(q[j]) || q[j] == '.') {
		return token{}, errAt(q, j, CodeMalformedQuery, "unexpected character after literal")
	}
	return token{kind: kind, text: q[i:j], pos: i, end: j}, nil
}

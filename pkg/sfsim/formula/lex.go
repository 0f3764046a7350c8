package formula

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF    tokKind = iota
	tNum            // 12, 1.5, .5
	tStr            // a text literal, decoded
	tIdent          // a name; dotted for a relationship path (Account.Name)
	tGlobal         // $Permission.X, $User.Username, without the $
	tOp             // an operator
	tLParen
	tRParen
	tComma
)

type token struct {
	kind tokKind
	text string // the operator, name, number as written, or decoded text
	num  float64
	pos  int // 1-based character position
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of formula"
	case tStr:
		return strconv.Quote(t.text)
	case tGlobal:
		return "$" + t.text
	}
	return t.text
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }

// lex splits src into tokens, ending with tEOF.
func lex(src string) ([]token, error) {
	var toks []token
	// at is the character position of byte offset off; offsets only grow
	// between calls but for the rare look back, so count incrementally.
	lastOff, lastPos := 0, 1
	at := func(off int) int {
		if off < lastOff {
			return utf8.RuneCountInString(src[:off]) + 1
		}
		lastPos += utf8.RuneCountInString(src[lastOff:off])
		lastOff = off
		return lastPos
	}
	i := 0
	for {
		for i < len(src) {
			if c := src[i]; c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
				i++
				continue
			}
			if strings.HasPrefix(src[i:], "/*") {
				end := strings.Index(src[i+2:], "*/")
				if end < 0 {
					return nil, errAt(at(i), "unterminated comment")
				}
				i += 2 + end + 2
				continue
			}
			break
		}
		if i >= len(src) {
			return append(toks, token{kind: tEOF, pos: at(i)}), nil
		}
		start := i
		c := src[i]
		switch {
		case isDigit(c) || c == '.' && i+1 < len(src) && isDigit(src[i+1]):
			for i < len(src) && isDigit(src[i]) {
				i++
			}
			if i < len(src) && src[i] == '.' {
				i++
				for i < len(src) && isDigit(src[i]) {
					i++
				}
			}
			n, err := strconv.ParseFloat(src[start:i], 64)
			if err != nil {
				return nil, errAt(at(start), "number %s is out of range", src[start:i])
			}
			toks = append(toks, token{kind: tNum, text: src[start:i], num: n, pos: at(start)})
		case isIdentStart(c):
			i = scanName(src, i)
			toks = append(toks, token{kind: tIdent, text: src[start:i], pos: at(start)})
		case c == '$':
			if i+1 >= len(src) || !isIdentStart(src[i+1]) {
				return nil, errAt(at(start), "expected a global variable name after $")
			}
			i = scanName(src, i+1)
			toks = append(toks, token{kind: tGlobal, text: src[start+1 : i], pos: at(start)})
		case c == '"' || c == '\'':
			s, end, err := lexText(src, i, at)
			if err != nil {
				return nil, err
			}
			i = end
			toks = append(toks, token{kind: tStr, text: s, pos: at(start)})
		case c == '(':
			i++
			toks = append(toks, token{kind: tLParen, text: "(", pos: at(start)})
		case c == ')':
			i++
			toks = append(toks, token{kind: tRParen, text: ")", pos: at(start)})
		case c == ',':
			i++
			toks = append(toks, token{kind: tComma, text: ",", pos: at(start)})
		default:
			op := ""
			if i+1 < len(src) {
				switch two := src[i : i+2]; two {
				case "&&", "||", "==", "!=", "<>", "<=", ">=":
					op = two
				}
			}
			if op == "" {
				switch c {
				case '!', '=', '<', '>', '+', '-', '*', '/', '&', '^':
					op = string(c)
				case '|':
					return nil, errAt(at(start), "unexpected character '|' (OR is ||)")
				default:
					r, _ := utf8.DecodeRuneInString(src[i:])
					return nil, errAt(at(start), "unexpected character %q", r)
				}
			}
			i += len(op)
			toks = append(toks, token{kind: tOp, text: op, pos: at(start)})
		}
	}
}

// scanName returns the end of the name (and dotted path) starting at i.
func scanName(src string, i int) int {
	for i < len(src) && isIdentChar(src[i]) {
		i++
	}
	for i+1 < len(src) && src[i] == '.' && isIdentStart(src[i+1]) {
		i++
		for i < len(src) && isIdentChar(src[i]) {
			i++
		}
	}
	return i
}

// lexText decodes the text literal whose quote is at src[i] and returns it
// with the offset after the closing quote.
func lexText(src string, i int, at func(int) int) (string, int, error) {
	q := src[i]
	var b strings.Builder
	for j := i + 1; j < len(src); {
		c := src[j]
		switch {
		case c == q:
			return b.String(), j + 1, nil
		case c == '\\':
			if j+1 >= len(src) {
				return "", 0, errAt(at(i), "unterminated text literal")
			}
			switch e := src[j+1]; e {
			case '\\', '"', '\'':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			default:
				r, _ := utf8.DecodeRuneInString(src[j+1:])
				return "", 0, errAt(at(j), `unknown escape \%c in a text literal (a backslash is written \\, as in REGEX patterns: "\\d")`, r)
			}
			j += 2
		default:
			b.WriteByte(c)
			j++
		}
	}
	return "", 0, errAt(at(i), "unterminated text literal")
}

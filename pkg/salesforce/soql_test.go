package salesforce

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// token is one lexeme of the small SOQL lexer below: a string literal (lit
// set, text unescaped) or any other word/punctuation.
type token struct {
	lit  bool
	text string
}

// lexSOQL splits a SOQL statement into words, punctuation and single-quoted
// literals, unescaping literals per the SOQL reference; it fails on an
// unknown escape or an unterminated literal, as Salesforce would.
func lexSOQL(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("unterminated literal")
				}
				c := s[i]
				if c == '\'' {
					i++
					break
				}
				if c == '\\' {
					if i+1 >= len(s) {
						return nil, fmt.Errorf("dangling backslash")
					}
					e, ok := map[byte]byte{'n': '\n', 'N': '\n', 'r': '\r', 'R': '\r', 't': '\t', 'T': '\t',
						'b': '\b', 'B': '\b', 'f': '\f', 'F': '\f', '"': '"', '\'': '\'', '\\': '\\'}[s[i+1]]
					if !ok {
						return nil, fmt.Errorf("invalid escape \\%c", s[i+1])
					}
					b.WriteByte(e)
					i += 2
					continue
				}
				if c == '"' {
					return nil, fmt.Errorf("unescaped double quote in literal")
				}
				b.WriteByte(c)
				i++
			}
			out = append(out, token{lit: true, text: b.String()})
		case c == '(' || c == ')' || c == ',' || c == '=':
			out = append(out, token{text: string(c)})
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r'(),=", rune(s[j])) {
				j++
			}
			out = append(out, token{text: s[i:j]})
			i = j
		}
	}
	return out, nil
}

func TestEscapeLiteral(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain@example.com", "plain@example.com"},
		{"O'Brien", `O\'Brien`},
		{`back\slash`, `back\\slash`},
		{`\'`, `\\\'`},
		{"say \"hi\"", `say \"hi\"`},
		{"a\nb\rc\td\be\ff", `a\nb\rc\td\be\ff`},
		{`%_`, `%_`}, // LIKE wildcards stay: not valid escapes outside LIKE
		{"", ""},
	}
	for _, tt := range tests {
		if got := EscapeLiteral(tt.in); got != tt.want {
			t.Errorf("EscapeLiteral(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Quote("it's"); got != `'it\'s'` {
		t.Errorf("Quote = %q", got)
	}
}

func TestEncodedLenMatchesQueryEscape(t *testing.T) {
	for _, s := range []string{"", "SELECT Id FROM Contact WHERE Email IN ('a@b.c')", "~-_. ", "\x00\xff/?#&=+%é日本"} {
		if got, want := encodedLen(s), len(url.QueryEscape(s)); got != want {
			t.Errorf("encodedLen(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestInQueries(t *testing.T) {
	if got := InQueries("SELECT Id FROM Contact WHERE", "Email", nil, "", 0); got != nil {
		t.Fatalf("no values: %v", got)
	}
	got := InQueries("SELECT Id FROM Contact WHERE", "Email", []string{"a@x.com", "o'b@y.com"}, "LIMIT 10", 0)
	want := []string{`SELECT Id FROM Contact WHERE Email IN ('a@x.com','o\'b@y.com') LIMIT 10`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}

	var emails []string
	for i := range 2000 {
		emails = append(emails, fmt.Sprintf("person.%04d+tag@example-domain.com", i))
	}
	stmts := InQueries("SELECT Id, Email, External_Contact_ID__c FROM Contact WHERE", "Email", emails, "", 0)
	if len(stmts) < 2 {
		t.Fatalf("2000 emails fit in %d statement(s)", len(stmts))
	}
	checkInQueries(t, "SELECT Id, Email, External_Contact_ID__c FROM Contact WHERE", "Email", emails, "", DefaultMaxQueryLen, stmts)
}

// checkInQueries asserts the shape of InQueries output: every statement is
// prefix, field, IN, "(", literals separated by commas, ")", suffix; the
// literals, in order across statements, unescape to exactly values; and
// each statement's URL-encoded length is within maxLen unless it holds a
// single over-long value.
func checkInQueries(t *testing.T, prefix, field string, values []string, suffix string, maxLen int, stmts []string) {
	t.Helper()
	if len(values) == 0 {
		if len(stmts) != 0 {
			t.Fatalf("no values but %d statements", len(stmts))
		}
		return
	}
	head, err := lexSOQL(prefix + " " + field + " IN (")
	if err != nil {
		t.Fatalf("lexing prefix: %v", err)
	}
	tail, err := lexSOQL(")" + " " + suffix)
	if err != nil {
		t.Fatalf("lexing suffix: %v", err)
	}
	var got []string
	for _, s := range stmts {
		toks, err := lexSOQL(s)
		if err != nil {
			t.Fatalf("statement does not lex: %v\n%q", err, s)
		}
		if len(toks) < len(head)+len(tail)+1 {
			t.Fatalf("statement too short: %q", s)
		}
		for i, h := range head {
			if toks[i] != h {
				t.Fatalf("prefix changed at token %d: %+v vs %+v in %q", i, toks[i], h, s)
			}
		}
		for i, tl := range tail {
			if k := len(toks) - len(tail) + i; toks[k] != tl {
				t.Fatalf("suffix changed at token %d: %+v vs %+v in %q", i, toks[k], tl, s)
			}
		}
		mid := toks[len(head) : len(toks)-len(tail)]
		n := 0
		for i, tk := range mid {
			if i%2 == 0 {
				if !tk.lit {
					t.Fatalf("expected a literal, got %+v in %q", tk, s)
				}
				got = append(got, tk.text)
				n++
			} else if tk != (token{text: ","}) {
				t.Fatalf("expected a comma, got %+v in %q", tk, s)
			}
		}
		if len(mid)%2 != 1 {
			t.Fatalf("IN list ends with a comma in %q", s)
		}
		if l := len(url.QueryEscape(s)); l > maxLen && n > 1 {
			t.Fatalf("statement with %d values is %d bytes encoded, limit %d", n, l, maxLen)
		}
	}
	if len(got) != len(values) {
		t.Fatalf("%d literals for %d values", len(got), len(values))
	}
	for i := range values {
		if got[i] != values[i] {
			t.Fatalf("literal %d = %q, want %q", i, got[i], values[i])
		}
	}
}

func FuzzEscapeLiteral(f *testing.F) {
	for _, s := range []string{"", "O'Brien", `\`, `\'`, "'; DELETE", "a\nb", `\u0027`, "\"", "\x00", "' OR Name != '"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := "SELECT Id FROM Contact WHERE Name = " + Quote(s) + " LIMIT 1"
		toks, err := lexSOQL(q)
		if err != nil {
			t.Fatalf("%v: %q", err, q)
		}
		want := []token{{text: "SELECT"}, {text: "Id"}, {text: "FROM"}, {text: "Contact"}, {text: "WHERE"},
			{text: "Name"}, {text: "="}, {lit: true, text: s}, {text: "LIMIT"}, {text: "1"}}
		if len(toks) != len(want) {
			t.Fatalf("shape changed: %d tokens for %q", len(toks), q)
		}
		for i := range want {
			if toks[i] != want[i] {
				t.Fatalf("token %d = %+v, want %+v (query %q)", i, toks[i], want[i], q)
			}
		}
	})
}

func FuzzInQueries(f *testing.F) {
	f.Add("a@x.com|b@y.com|o'b@z.com", "x'y", uint16(0))
	f.Add(strings.Repeat("someone@example.com|", 50), `\`, uint16(300))
	f.Add("", "", uint16(1))
	f.Add("'|\\|\"|\n", ") OR Id != (", uint16(60))
	f.Fuzz(func(t *testing.T, joined, extra string, n uint16) {
		values := append(strings.Split(joined, "|"), extra)
		maxLen := 0
		if n > 0 {
			maxLen = 50 + int(n)%20000
		}
		prefix, suffix := "SELECT Id, Email FROM Contact WHERE", "LIMIT 5000"
		stmts := InQueries(prefix, "Email", values, suffix, maxLen)
		if maxLen == 0 {
			maxLen = DefaultMaxQueryLen
		}
		checkInQueries(t, prefix, "Email", values, suffix, maxLen, stmts)
	})
}

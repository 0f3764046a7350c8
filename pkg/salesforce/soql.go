package salesforce

import "strings"

// DefaultMaxQueryLen is InQueries' default bound on the URL-encoded length of
// one statement: well under the 16,384-byte URI limit (HTTP 414), leaving
// room for the host, the /services/data/vXX.X/query?q= path and headers.
const DefaultMaxQueryLen = 12000

var soqlEscaper = strings.NewReplacer(
	`\`, `\\`,
	`'`, `\'`,
	`"`, `\"`,
	"\n", `\n`,
	"\r", `\r`,
	"\t", `\t`,
	"\b", `\b`,
	"\f", `\f`,
)

// EscapeLiteral escapes s for use inside a single-quoted SOQL string literal
// (without the quotes): backslash, both quotes, and \n \r \t \b \f, as the
// SOQL reference lists them. The replacement is one pass, so an escape's own
// backslash is never escaped again.
func EscapeLiteral(s string) string { return soqlEscaper.Replace(s) }

// Quote returns s as a SOQL string literal: "'" + EscapeLiteral(s) + "'".
func Quote(s string) string { return "'" + EscapeLiteral(s) + "'" }

// InQueries builds "<prefix> <field> IN ('v1','v2',…)[ <suffix>]" statements
// covering every value, in order, split so that each statement's URL-encoded
// length (as sent in GET /query?q=) stays at most maxLen (0 means
// DefaultMaxQueryLen). Values are escaped with Quote and kept as given
// (de-duplicate them first if you need to). No values, no statements. A
// single value too long to fit on its own still gets a statement of its own
// (Salesforce will refuse it); nothing is ever dropped.
//
//	InQueries("SELECT Id, Email FROM Contact WHERE", "Email", emails, "", 0)
func InQueries(prefix, field string, values []string, suffix string, maxLen int) []string {
	if len(values) == 0 {
		return nil
	}
	if maxLen <= 0 {
		maxLen = DefaultMaxQueryLen
	}
	head := strings.TrimRight(prefix, " ") + " " + field + " IN ("
	tail := ")"
	if s := strings.TrimSpace(suffix); s != "" {
		tail += " " + s
	}
	fixed := encodedLen(head) + encodedLen(tail)
	const commaLen = 3 // "%2C"

	var out []string
	var b strings.Builder
	n, size := 0, fixed
	flush := func() {
		b.WriteString(tail)
		out = append(out, b.String())
		b.Reset()
		n, size = 0, fixed
	}
	for _, v := range values {
		lit := Quote(v)
		l := encodedLen(lit)
		if n > 0 && size+commaLen+l > maxLen {
			flush()
		}
		if n == 0 {
			b.WriteString(head)
		} else {
			b.WriteByte(',')
			size += commaLen
		}
		b.WriteString(lit)
		size += l
		n++
	}
	flush()
	return out
}

// encodedLen is len(url.QueryEscape(s)) without building the string; query
// escaping is per byte, so lengths of parts add up.
func encodedLen(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == ' ':
			n++
		default:
			n += 3
		}
	}
	return n
}

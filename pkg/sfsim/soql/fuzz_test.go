package soql

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// escape is a test-local SOQL escaper per the reference (§4.3): backslash,
// both quotes and \n \r \t \b \f; with like, also % and _.
func escape(s string, like bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '\'', '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '%', '_':
			if like {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"SELECT Id FROM Contact",
		"SELECT Id, Email FROM Contact WHERE Email IN ('a@x.com','o\\'b@y.com') LIMIT 200",
		"SELECT Email, COUNT(Id) n FROM Contact GROUP BY Email HAVING COUNT(Id) > 1 ORDER BY COUNT(Id) DESC NULLS LAST LIMIT 5 OFFSET 1",
		"SELECT Id FROM Contact WHERE (Email = 'a' OR Email LIKE '%\\_b') AND NOT CreatedDate < LAST_N_DAYS:7",
		"SELECT Id FROM Contact WHERE Birthdate = 2026-11-27 AND CreatedDate > 2026-11-27T10:00:00.5+02:00",
		"SELECT COUNT() FROM Contact WHERE Score__c >= -1.5 AND Active__c = true AND Email != null",
		"SELECT Id FROM Contact WHERE Email = 'a' AND Email = 'b' OR Email = 'c'",
		"SELECT Id FROM Contact WHERE Email = \"a\"",
		"SELECT Id FROM Contact WHERE Email = 'a\\x'",
		"SELECT Id FROM Contact WHERE Email = '\\uD83D\\uDE00\\u00E9'",
		"SELECT Foo FROM Contact",
		"SELECT Id FROM Bogus",
		"SELECT Id FROM Contact WHERE Email = 'unterminated",
		"'; DELETE FROM Contact; --",
		"' OR Email != null OR Email = '",
		"\\' OR Id != null OR Email = \\'",
		"a\\",
		"o'brien@example.com",
		"JANE@example.com",
		"100%_sure",
		"\x00\xff\n\r\t\b\f\"",
		"ſtraße@K.com",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Any input: never panic; errors are *Error with a known code.
		if q, err := Parse(s, testSchema); err != nil {
			checkError(t, s, err)
		} else if _, err := q.Run(testRows(), testNow); err != nil {
			t.Fatalf("Run(%q): %v", s, err)
		}

		// s as an escaped literal: the query keeps its shape and matches
		// exactly the rows whose Email equals s, ignoring case.
		rows := []map[string]any{
			{"Id": "s", "Email": s},
			{"Id": "upper", "Email": strings.ToUpper(s)},
			{"Id": "lower", "Email": strings.ToLower(s)},
			{"Id": "suffix", "Email": s + "x"},
			{"Id": "prefix", "Email": "x" + s},
			{"Id": "empty", "Email": ""},
			{"Id": "quote", "Email": "'"},
			{"Id": "other", "Email": "jane@example.com"},
			{"Id": "null"},
		}
		var want []string
		for _, r := range rows {
			if e, ok := r["Email"].(string); ok && strings.EqualFold(e, s) {
				want = append(want, r["Id"].(string))
			}
		}
		tooLong := utf8.RuneCountInString(s) > maxLiteralLen
		for _, q := range []string{
			"SELECT Id FROM Contact WHERE Email = '" + escape(s, false) + "'",
			"SELECT Id FROM Contact WHERE Email IN ('" + escape(s, false) + "', 'no@match.invalid') ORDER BY Id",
			"SELECT Id FROM Contact WHERE Email LIKE '" + escape(s, true) + "'",
		} {
			pq, err := Parse(q, testSchema)
			if tooLong || utf8.RuneCountInString(q) > maxQueryLen {
				var e *Error
				if !errors.As(err, &e) || e.Code != CodeMalformedQuery {
					t.Fatalf("Parse(%q) = %v, want MALFORMED_QUERY for a literal over the limit", q, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", q, err)
			}
			res, err := pq.Run(rows, testNow)
			if err != nil {
				t.Fatalf("Run(%q): %v", q, err)
			}
			var got []string
			for _, r := range res.Rows {
				got = append(got, r["Id"].(string))
			}
			if strings.HasPrefix(q, "SELECT Id FROM Contact WHERE Email IN") {
				// ORDER BY Id: compare as sets.
				got, want := strings.Join(sorted(got), ","), strings.Join(sorted(want), ",")
				if got != want {
					t.Fatalf("%q: got [%s], want [%s]", q, got, want)
				}
				continue
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("%q: got %q, want %q", q, got, want)
			}
		}
	})
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func checkError(t *testing.T, q string, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse(%q) error %T %v, want *Error", q, err, err)
	}
	switch e.Code {
	case CodeMalformedQuery, CodeInvalidField, CodeInvalidType:
	default:
		t.Fatalf("Parse(%q) code %q", q, e.Code)
	}
	if e.Message == "" {
		t.Fatalf("Parse(%q): empty message", q)
	}
}

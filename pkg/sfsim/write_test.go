package sfsim

import (
	"maps"
	"reflect"
	"regexp"
	"testing"
)

// TestConvertOwnedMatchesConvert: converting a record in place gives
// convert's values and error.
func TestConvertOwnedMatchesConvert(t *testing.T) {
	m, err := compileSchema(DefaultSchema())
	if err != nil {
		t.Fatal(err)
	}
	o := m.object("Contact")
	attrs := map[string]any{"type": "Contact"}
	cases := []map[string]any{
		{"attributes": attrs, "LastName": "Doe", "Email": " Ann@Example.COM ", "Sync_Version__c": 1.5e15, "External_Contact_ID__c": "A-1"},
		{"LastName": "Doe", "FirstName": "", "Title": 12.0, "MailingCity": true, "Phone": nil},
		{"attributes": attrs, "lastname": "lower-case key: convert's path"},
		{"attributes": attrs, "LastName": "X", "Nope__c": 1.0},
		{"LastName": "X", "CreatedDate": "2020-01-01", "Id": "003000000000001AAA"},
		{"LastName": "X", "Sync_Version__c": "not a number"},
		{"LastName": "X", "Sync_Version__c": " 42 ", "HasOptedOutOfEmail": "true"},
		{"LastName": map[string]any{"a": 1.0}},
		{"AccountId": "bad-id", "LastName": "X"},
		{"AccountId": "001000000000001", "LastName": "X"},
	}
	checked := 0
	for _, raw := range cases {
		want, werr := o.convert(maps.Clone(raw))
		got, gerr := o.convertOwned(maps.Clone(raw))
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gerr, werr) {
			t.Errorf("%v:\n convertOwned = %v, %v\n convert      = %v, %v", raw, got, gerr, want, werr)
		}
		if werr != nil {
			checked++
		}
	}
	if checked < 4 {
		t.Errorf("only %d cases fail conversion: the table no longer tests errors", checked)
	}
}

// emailRE is the pattern validEmail runs by hand.
var emailRE = regexp.MustCompile(`^[^\s@.][^\s@]*@[^\s@.]+(\.[^\s@.]+)+$`)

var emailCases = []string{
	"a@b.co", "ann.lee@example.com", "x@y.z.w", "é@ü.日本", "a.@b.c", "a..b@c.d", "_@-.-",
	"", "@", "a@", "@b.c", ".a@b.c", "a@b", "a@.b", "a@b.", "a@b..c", "a@@b.c", "a@b@c.d",
	"a b@c.d", "a@b.c ", "\ta@b.c", "a@b.c\n", "a\f@b.c", "a\r@b.c", "a\v@b.c", "a\u00a0@b.c",
	"\xff@b.c", "a@\xff.\xfe", "a@b.\xff", ".@b.c", "a@b.c.", "a@.", "a@..",
}

func TestValidEmailMatchesRegexp(t *testing.T) {
	valid := 0
	for _, s := range emailCases {
		want := emailRE.MatchString(s)
		if got := validEmail(s); got != want {
			t.Errorf("validEmail(%q) = %v, regexp says %v", s, got, want)
		}
		if want {
			valid++
		}
	}
	if valid < 5 || valid > len(emailCases)-20 {
		t.Errorf("%d of %d cases valid: the table no longer tests both sides", valid, len(emailCases))
	}
}

func FuzzValidEmail(f *testing.F) {
	for _, s := range emailCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validEmail(s), emailRE.MatchString(s); got != want {
			t.Fatalf("validEmail(%q) = %v, regexp says %v", s, got, want)
		}
	})
}

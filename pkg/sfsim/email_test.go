package sfsim

import (
	"regexp"
	"testing"
)

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

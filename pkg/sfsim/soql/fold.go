package soql

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// foldKey maps s to a string that is equal for two inputs exactly when
// strings.EqualFold says they are equal: every character is replaced by one
// chosen member of its Unicode simple case-folding orbit (the lower-case
// letter for ASCII), and invalid UTF-8 bytes by U+FFFD, as EqualFold decodes
// them. Lower-case ASCII, the usual case for emails, is returned as is.
func foldKey(s string) string {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			break
		}
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// foldRune returns the representative of r's case-folding orbit: the
// lower-case ASCII letter when the orbit has an ASCII letter (so K, k and the
// Kelvin sign all give 'k'), else the orbit's smallest member.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	best := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < utf8.RuneSelf {
			return foldRune(f)
		}
		if f < best {
			best = f
		}
	}
	return best
}

// likeMatch reports whether s matches pat, where pat's characters were
// folded with foldRune when fold is set. It is the classic wildcard matcher
// with single backtracking to the last '%': O(len(s)*len(pat)) at worst.
func likeMatch(pat []likeElem, s string, fold bool) bool {
	rs := make([]rune, 0, len(s))
	for _, r := range s {
		if fold {
			r = foldRune(r)
		}
		rs = append(rs, r)
	}
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(rs) {
		switch {
		case pi < len(pat) && (pat[pi].kind == '_' || pat[pi].kind == 'c' && pat[pi].r == rs[si]):
			pi++
			si++
		case pi < len(pat) && pat[pi].kind == '%':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pat) && pat[pi].kind == '%' {
		pi++
	}
	return pi == len(pat)
}

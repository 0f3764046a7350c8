package sfsim

const (
	base62      = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	suffixChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
)

// makeID builds the 18-character Id for the n-th record: key prefix, a pod
// marker, a base-62 sequence, and the case-safe suffix.
func makeID(prefix string, n uint64) string {
	var b [18]byte
	copy(b[:3], prefix)
	b[3], b[4] = '8', 'd' // fixed "pod" characters, as real Ids carry
	for i := 14; i >= 5; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	s := caseSuffix(string(b[:15]))
	copy(b[15:], s)
	return string(b[:])
}

// caseSuffix is the 3-character suffix that makes a 15-character Id
// case-insensitive: per 5-character chunk, a bit per upper-case letter
// (first character = lowest bit), as a character of A–Z0–5.
func caseSuffix(id15 string) string {
	var out [3]byte
	for chunk := 0; chunk < 3; chunk++ {
		v := 0
		for i := 0; i < 5; i++ {
			c := id15[chunk*5+i]
			if c >= 'A' && c <= 'Z' {
				v |= 1 << i
			}
		}
		out[chunk] = suffixChars[v]
	}
	return string(out[:])
}

// To18 returns the 18-character form of a 15- or 18-character Id, or ""
// when s is not a well-formed Id.
func To18(s string) string {
	k := idKey(s)
	if k == "" {
		return ""
	}
	return k + caseSuffix(k)
}

// idKey returns the case-sensitive 15-character key of an Id, restoring the
// case of an 18-character Id from its suffix (so an Id typed in the wrong
// case still resolves, as in Salesforce). "" = malformed.
func idKey(s string) string {
	switch len(s) {
	case 15:
		if !isAlnum(s) {
			return ""
		}
		return s
	case 18:
		if !isAlnum(s) {
			return ""
		}
		b := []byte(s[:15])
		for chunk := 0; chunk < 3; chunk++ {
			c := s[15+chunk]
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			v := -1
			for i := 0; i < len(suffixChars); i++ {
				if suffixChars[i] == c {
					v = i
				}
			}
			if v < 0 {
				return ""
			}
			for i := 0; i < 5; i++ {
				p := chunk*5 + i
				upper := v&(1<<i) != 0
				switch {
				case upper && b[p] >= 'a' && b[p] <= 'z':
					b[p] -= 'a' - 'A'
				case !upper && b[p] >= 'A' && b[p] <= 'Z':
					b[p] += 'a' - 'A'
				}
			}
		}
		return string(b)
	}
	return ""
}

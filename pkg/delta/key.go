package delta

import (
	"errors"
	"fmt"
	"strings"
)

// Key encodes an external ID as one NATS subject token (also a valid
// JetStream KV key). Bytes in [A-Za-z0-9_-] stand for themselves; every other
// byte of the UTF-8 string, '=' included, becomes '=' and two upper-case hex
// digits. The empty string, which has no token, is "=". The encoding is
// deterministic and one-to-one, so KeyToID(Key(id)) == id for every string,
// and the token never contains '.', '*', '>', whitespace or non-ASCII bytes.
//
// Key is case-sensitive; ContactKey is what subjects and state use.
func Key(externalID string) string {
	if externalID == "" {
		return "="
	}
	n := 0
	for i := 0; i < len(externalID); i++ {
		if unreserved(externalID[i]) {
			n++
		} else {
			n += 3
		}
	}
	if n == len(externalID) {
		return externalID
	}
	var b strings.Builder
	b.Grow(n)
	for i := 0; i < len(externalID); i++ {
		c := externalID[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}

// ContactKey is the key of the contact an external ID names: Key of the
// ID folded to lower case. Salesforce matches external IDs without regard to
// case (the field is unique, case-insensitive), so "MC_1" and "mc_1" are one
// contact: they share a subject token, hence a partition and an owner, and a
// contact-state key. The raw spelling still travels in the delta (and the
// Cs-External-Id header) and is what is written to Salesforce.
//
// Folding is strings.ToLower (Unicode simple case mapping). Salesforce does
// not document which case folding its case-insensitive unique index uses;
// for ASCII IDs, the common case, the two agree.
func ContactKey(externalID string) string { return Key(strings.ToLower(externalID)) }

const hexDigits = "0123456789ABCDEF"

func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// ErrBadKey is returned (wrapped) by KeyToID for a token Key cannot produce.
var ErrBadKey = errors.New("delta: not a key")

// KeyToID decodes a token made by Key. It accepts only Key's canonical form
// (upper-case hex, no escaped unreserved bytes), so Key(KeyToID(k)) == k.
func KeyToID(key string) (string, error) {
	if key == "=" {
		return "", nil
	}
	if key == "" {
		return "", fmt.Errorf("%w: empty token", ErrBadKey)
	}
	if !strings.Contains(key, "=") {
		for i := 0; i < len(key); i++ {
			if !unreserved(key[i]) {
				return "", fmt.Errorf("%w: byte %q at %d", ErrBadKey, key[i], i)
			}
		}
		return key, nil
	}
	out := make([]byte, 0, len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case unreserved(c):
			out = append(out, c)
		case c == '=':
			if i+2 >= len(key) {
				return "", fmt.Errorf("%w: truncated escape at %d", ErrBadKey, i)
			}
			hi, lo := unhex(key[i+1]), unhex(key[i+2])
			if hi < 0 || lo < 0 {
				return "", fmt.Errorf("%w: bad escape %q at %d", ErrBadKey, key[i:i+3], i)
			}
			v := byte(hi<<4 | lo)
			if unreserved(v) {
				return "", fmt.Errorf("%w: needless escape %q at %d", ErrBadKey, key[i:i+3], i)
			}
			out = append(out, v)
			i += 2
		default:
			return "", fmt.Errorf("%w: byte %q at %d", ErrBadKey, c, i)
		}
	}
	return string(out), nil
}

// unhex accepts only upper-case hex digits, Key's canonical form.
func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

package delta

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestKey(t *testing.T) {
	cases := []struct{ id, key string }{
		{"MC_12345", "MC_12345"},
		{"mc_12345", "mc_12345"}, // case is kept: tokens are case-sensitive
		{"a-b_C9", "a-b_C9"},
		{"", "="},
		{"=", "=3D"},
		{"a.b", "a=2Eb"},
		{"a/b", "a=2Fb"},
		{"a b", "a=20b"},
		{"*", "=2A"},
		{">", "=3E"},
		{`"q'`, "=22q=27"},
		{"é", "=C3=A9"},
		{"Жанна", "=D0=96=D0=B0=D0=BD=D0=BD=D0=B0"},
		{"=41", "=3D41"},
		{"\x00\xff", "=00=FF"}, // not UTF-8: still one-to-one
	}
	for _, tc := range cases {
		if got := Key(tc.id); got != tc.key {
			t.Errorf("Key(%q) = %q, want %q", tc.id, got, tc.key)
		}
		back, err := KeyToID(tc.key)
		if err != nil || back != tc.id {
			t.Errorf("KeyToID(%q) = %q, %v; want %q", tc.key, back, err, tc.id)
		}
	}
}

func TestKeyToIDRejectsNonCanonical(t *testing.T) {
	for _, k := range []string{"", "=2e", "=41", "=4", "=", "==", "a.b", "a b", "é", "=ZZ", "a=", "*", ">"} {
		if k == "=" {
			continue // the empty ID
		}
		if id, err := KeyToID(k); !errors.Is(err, ErrBadKey) {
			t.Errorf("KeyToID(%q) = %q, %v; want ErrBadKey", k, id, err)
		}
	}
}

func checkSubjectSafe(t *testing.T, id, k string) {
	t.Helper()
	if k == "" {
		t.Fatalf("Key(%q) is empty", id)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c == '.' || c == '*' || c == '>' || c >= utf8.RuneSelf || unicode.IsSpace(rune(c)) || c < 0x20 || c == 0x7f {
			t.Fatalf("Key(%q) = %q has unsafe byte %q", id, k, c)
		}
	}
}

func FuzzKey(f *testing.F) {
	for _, s := range []string{"", "MC_1", "a.b.c", "*", ">", "a b", "é", "Жанна", "=", "=3D", "\x00", "\xff\xfe", "o'brien\"", "a/b\\c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		k := Key(id)
		checkSubjectSafe(t, id, k)
		back, err := KeyToID(k)
		if err != nil {
			t.Fatalf("KeyToID(Key(%q)) error: %v", id, err)
		}
		if back != id {
			t.Fatalf("round trip %q -> %q -> %q", id, k, back)
		}
		if Key(id) != k {
			t.Fatal("not deterministic")
		}
		// Any string KeyToID accepts is canonical: re-encoding gives it back.
		if id2, err := KeyToID(id); err == nil && Key(id2) != id {
			t.Fatalf("KeyToID(%q) = %q but Key of that is %q", id, id2, Key(id2))
		}
		if strings.Contains(id, "=") && !strings.Contains(k, "=3D") {
			t.Fatalf("'=' not escaped in %q", k)
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"A":1}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Decode(data)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode error %v (%T) is not a *FieldError", err, err)
			}
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("decoded delta fails Validate: %v", err)
		}
		checkSubjectSafe(t, d.ExternalID, Key(d.ExternalID))
	})
}

// Salesforce matches external IDs case-insensitively, so the spellings of one
// contact share a subject token, a partition and a state key, while the raw
// spelling stays in the delta.
func TestContactKeyFoldsCase(t *testing.T) {
	for _, pair := range [][2]string{{"MC_1", "mc_1"}, {"Jane.Doe@X", "jane.doe@x"}, {"ÄBC", "äbc"}} {
		if a, b := ContactKey(pair[0]), ContactKey(pair[1]); a != b {
			t.Errorf("ContactKey(%q) = %q, ContactKey(%q) = %q: want the same key", pair[0], a, pair[1], b)
		}
		d1 := Delta{Segment: "emea", ExternalID: pair[0]}
		d2 := Delta{Segment: "emea", ExternalID: pair[1]}
		if d1.Subject() != d2.Subject() {
			t.Errorf("subjects differ: %q vs %q", d1.Subject(), d2.Subject())
		}
	}
	if ContactKey("MC_1") == ContactKey("MC_2") {
		t.Fatal("different contacts share a key")
	}
	d := Delta{ExternalID: "MC_1", Version: 7}
	if d.MsgID() != "MC_1:7" {
		t.Fatalf("MsgID = %q: the raw spelling must survive", d.MsgID())
	}
}

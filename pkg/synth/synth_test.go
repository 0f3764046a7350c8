package synth

import (
	"encoding/json"
	"testing"

	"github.com/contactsync/contactsync/pkg/delta"
)

func TestGenerateMix(t *testing.T) {
	set := Generate(Options{Contacts: 2000, Seed: 7})
	if len(set.Rows) < 2000 {
		t.Fatalf("rows = %d, want at least one per contact", len(set.Rows))
	}
	invalid, outOfOrder, nonLatin, quoted := 0, 0, 0, 0
	last := map[string]int64{}
	for _, r := range set.Rows {
		d, err := delta.Decode(r.Data)
		if err != nil {
			invalid++
			continue
		}
		if v, ok := last[d.ExternalID]; ok && d.Version < v {
			outOfOrder++
		}
		last[d.ExternalID] = max(last[d.ExternalID], d.Version)
		for _, f := range []string{"FirstName", "LastName"} {
			s, _ := d.Fields[f].(string)
			for _, c := range s {
				if c > 0x7f {
					nonLatin++
					break
				}
			}
			if json.Valid([]byte(`"`+s+`"`)) && (contains(s, '\'') || contains(s, '"')) {
				quoted++
			}
		}
	}
	if invalid == 0 || invalid > len(set.Rows)/40 {
		t.Errorf("invalid at ingest = %d of %d, want a small non-zero share", invalid, len(set.Rows))
	}
	if outOfOrder == 0 || nonLatin == 0 || quoted == 0 {
		t.Errorf("want out-of-order versions, non-Latin and quoted names; got %d %d %d", outOfOrder, nonLatin, quoted)
	}
	if len(set.Existing) == 0 {
		t.Error("want pre-existing contacts that collide")
	}
	again := Generate(Options{Contacts: 2000, Seed: 7})
	if string(again.Rows[len(again.Rows)-1].Data) != string(set.Rows[len(set.Rows)-1].Data) {
		t.Error("same seed must give the same data")
	}
}

func contains(s string, c rune) bool {
	for _, r := range s {
		if r == c {
			return true
		}
	}
	return false
}

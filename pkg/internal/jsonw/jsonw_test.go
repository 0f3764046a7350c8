package jsonw

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// Every value writes json.Marshal's bytes, or fails where it fails.
func TestAppendValueMatchesMarshal(t *testing.T) {
	for _, v := range []any{nil, "", "plain", "<a href=\"x\">&amp;</a>", "\x00\x01\b\f\n\r\t\x1f\x7f", "\u2028\u2029", "é漢🙂", "\xff\xfe\xc3",
		true, false, 0, -1, int64(math.MinInt64), int64(math.MaxInt64), uint8(7), uint64(math.MaxUint64), 1.5, 1e21, 1e-7, float32(0.1),
		json.Number("0"), json.Number("-1.5e+10"), json.Number(""), map[string]any{"b": 1, "a": "x"}, []any{1, "a"},
		json.Number("Inf"), json.Number("1."), math.NaN(), math.Inf(1)} {
		want, merr := json.Marshal(v)
		got, aerr := AppendValue([]byte("prefix"), v)
		if (merr == nil) != (aerr == nil) {
			t.Errorf("%#v: json.Marshal error %v, AppendValue error %v", v, merr, aerr)
			continue
		}
		if merr == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("%#v:\n got %s\nwant prefix%s", v, got, want)
		}
	}
}

func FuzzAppendStringMatchesMarshal(f *testing.F) {
	for _, s := range []string{"", "a", "<>&", "\u2028", "\xff", "é\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
	})
}

func TestIsValidNumber(t *testing.T) {
	for s, want := range map[string]bool{"0": true, "-0": true, "12": true, "1.5": true, "1e5": true, "1E+5": true, "-1.25e-3": true,
		"": false, "-": false, "01": false, "1.": false, ".5": false, "+1": false, "1e": false, "1e+": false, "Inf": false, "0x1": false, "1 ": false} {
		if got := IsValidNumber(s); got != want {
			t.Errorf("IsValidNumber(%q) = %v, want %v", s, got, want)
		}
	}
}

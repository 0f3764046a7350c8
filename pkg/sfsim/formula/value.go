package formula

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// value is the result of an expression. A null value is a blank number,
// date, date/time or Boolean (text is never null: blank text is "").
type value struct {
	t    Type // Unknown only for a null whose type is not known (NULL)
	null bool
	s    string // Text, Picklist, Date, DateTime
	n    float64
	b    bool
}

func nullOf(t Type) value       { return value{t: t, null: true} }
func textValue(s string) value  { return value{t: Text, s: s} }
func numValue(n float64) value  { return value{t: Number, n: n} }
func boolValue(b bool) value    { return value{t: Boolean, b: b} }
func (v value) isTextual() bool { return v.t == Text || v.t == Picklist }

// asText turns a null of unknown type into blank text, for an operator or
// function that takes text: text is never null.
func (v value) asText() value {
	if v.null && v.t == Unknown {
		return textValue("")
	}
	return v
}

// fromEnv converts a field value from an Env to a value of type t.
func fromEnv(field string, v any, t Type) (value, *Error) {
	var n float64
	switch x := v.(type) {
	case nil:
		switch t {
		case Text, Picklist:
			return value{t: t}, nil
		}
		return nullOf(t), nil
	case string:
		switch t {
		case Unknown:
			return textValue(x), nil
		case Text, Picklist, Date, DateTime:
			return value{t: t, s: x}, nil
		}
		return value{}, badValue(field, v, t)
	case bool:
		if t == Boolean || t == Unknown {
			return boolValue(x), nil
		}
		return value{}, badValue(field, v, t)
	case float64:
		n = x
	case float32:
		n = float64(x)
	case int:
		n = float64(x)
	case int64:
		n = float64(x)
	case int32:
		n = float64(x)
	case uint:
		n = float64(x)
	case uint64:
		n = float64(x)
	case uint32:
		n = float64(x)
	default:
		return value{}, badValue(field, v, t)
	}
	if t != Number && t != Unknown {
		return value{}, badValue(field, v, t)
	}
	return numValue(n), nil
}

func badValue(field string, v any, t Type) *Error {
	return &Error{Msg: fmt.Sprintf("field %s holds %v (%T), which is not a %s value", field, v, v, t)}
}

// same reports whether two values of a field are equal, for ISCHANGED: a
// blank number differs from 0 (Salesforce: ISCHANGED is TRUE when a number
// "was blank and now contains any value" or "was zero and now is blank").
func same(a, b value) bool {
	if a.t == Unknown || b.t == Unknown {
		a, b = a.asText(), b.asText()
	}
	if a.null || b.null {
		return a.null && b.null
	}
	switch {
	case a.t == Number && b.t == Number:
		return a.n == b.n
	case a.t == Boolean && b.t == Boolean:
		return a.b == b.b
	case a.t == Boolean || b.t == Boolean || a.t == Number || b.t == Number:
		return false
	}
	return a.s == b.s
}

// compare orders two non-null values of the same comparable type.
func compare(a, b value) int {
	switch a.t {
	case Number:
		switch {
		case a.n < b.n:
			return -1
		case a.n > b.n:
			return 1
		}
		return 0
	case Boolean:
		switch {
		case a.b == b.b:
			return 0
		case !a.b:
			return -1
		}
		return 1
	case Date, DateTime:
		ta, oka := parseTime(a.s)
		tb, okb := parseTime(b.s)
		if oka && okb {
			return ta.Compare(tb)
		}
	}
	return strings.Compare(a.s, b.s)
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05", "2006-01-02"}

func parseTime(s string) (time.Time, bool) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// formatNumber is TEXT(number): plain digits, no exponent, no trailing
// zeros. Salesforce's rendering of a field's scale (TEXT of 1.50 in a
// Number(18,2)) could not be confirmed; this drops the zeros.
func formatNumber(n float64) string { return strconv.FormatFloat(n, 'f', -1, 64) }

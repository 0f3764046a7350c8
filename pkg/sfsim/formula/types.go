package formula

import "fmt"

// Type is the data type of a field or of an expression.
type Type uint8

// Formula data types. A schema's field types map onto them: text, email,
// phone, url, textarea, reference and Id fields are Text; double, int,
// currency and percent are Number; a checkbox is Boolean.
const (
	// Unknown is the type of a field when Compile has no FieldTypes, and of
	// NULL: it is checked when the formula is evaluated.
	Unknown Type = iota
	Text
	Number
	Boolean
	Picklist
	Date
	DateTime
)

func (t Type) String() string {
	switch t {
	case Text:
		return "Text"
	case Number:
		return "Number"
	case Boolean:
		return "Boolean"
	case Picklist:
		return "Picklist"
	case Date:
		return "Date"
	case DateTime:
		return "DateTime"
	}
	return "Any"
}

// FieldTypes are the fields a formula may reference: API name → type.
// References match names in any case and resolve to the name as written
// here. A nil FieldTypes accepts any field name, with type Unknown.
type FieldTypes map[string]Type

// Env is the record a formula is evaluated against. Field names are the
// names of FieldTypes (as written in the formula when Compile had none).
type Env interface {
	// Value is a field's value after the write: nil (blank), string,
	// float64 (or another Go number type) or bool. Dates and date/times are
	// strings: "2006-01-02", and RFC 3339 or Salesforce's
	// "2006-01-02T15:04:05.000+0000".
	Value(field string) any
	// Prior is a field's value before the write. It is not called while
	// IsNew is true.
	Prior(field string) any
	// IsNew reports whether the record is being created.
	IsNew() bool
	// HasPermission reports whether the user holds a custom permission
	// ($Permission.Name).
	HasPermission(name string) bool
	// Username is $User.Username.
	Username() string
}

// Error is a formula that does not compile, or that fails while it is
// evaluated (a type mismatch Compile could not see, VALUE of a non-number,
// a division by zero).
type Error struct {
	Pos int    // 1-based character position in the formula; 0 = none
	Msg string // what is wrong, naming the function, field or operator
}

func (e *Error) Error() string {
	if e.Pos > 0 {
		return fmt.Sprintf("%s (at character %d)", e.Msg, e.Pos)
	}
	return e.Msg
}

func errAt(pos int, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

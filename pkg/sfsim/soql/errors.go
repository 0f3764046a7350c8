package soql

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error codes returned in Error.Code, as Salesforce names them.
const (
	CodeMalformedQuery = "MALFORMED_QUERY"
	CodeInvalidField   = "INVALID_FIELD"
	CodeInvalidType    = "INVALID_TYPE"
)

// Error is a query Salesforce would refuse with HTTP 400. Code is the
// errorCode of the REST error body; Message is its message, in Salesforce's
// wording where known (multi-line with a caret under the offending token).
type Error struct {
	Code, Message string
}

// Error returns "<code>: <message>".
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// noSuchColumn is the text Salesforce appends after "No such column 'X' on
// entity 'Y'.".
const noSuchColumn = " If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."

// errAt builds an error whose message points at byte offset pos of q the way
// Salesforce does:
//
//	\nSELECT Foo FROM Contact\n       ^\nERROR at Row:1:Column:8\n<msg>
//
// Row and column are 1-based; the column counts characters, not bytes.
func errAt(q string, pos int, code, msg string) *Error {
	if pos < 0 {
		pos = 0
	}
	if pos > len(q) {
		pos = len(q)
	}
	lineStart := strings.LastIndexByte(q[:pos], '\n') + 1
	lineEnd := strings.IndexByte(q[pos:], '\n')
	if lineEnd < 0 {
		lineEnd = len(q)
	} else {
		lineEnd += pos
	}
	row := strings.Count(q[:lineStart], "\n") + 1
	col := utf8.RuneCountInString(q[lineStart:pos]) + 1
	var b strings.Builder
	b.Grow(lineEnd - lineStart + col + len(msg) + 48)
	b.WriteByte('\n')
	b.WriteString(q[lineStart:lineEnd])
	b.WriteByte('\n')
	b.WriteString(strings.Repeat(" ", col-1))
	b.WriteString("^\nERROR at Row:")
	b.WriteString(strconv.Itoa(row))
	b.WriteString(":Column:")
	b.WriteString(strconv.Itoa(col))
	b.WriteByte('\n')
	b.WriteString(msg)
	return &Error{Code: code, Message: b.String()}
}

func malformed(msg string) *Error { return &Error{Code: CodeMalformedQuery, Message: msg} }

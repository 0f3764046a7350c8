package sfsim

import (
	"fmt"
	"net/http"
	"strings"
)

// apiError is one Salesforce error: rendered as {"message","errorCode",
// "fields"?} in a top-level array, or {"statusCode","message","fields"} in a
// per-record result.
type apiError struct {
	status int // HTTP status when it fails a whole request
	code   string
	msg    string
	fields []string
	dup    *dupResult
	// request marks an error that fails a whole collections request (body
	// or field-name errors), not just its record.
	request bool
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func newErr(status int, code, msg string, fields ...string) *apiError {
	return &apiError{status: status, code: code, msg: msg, fields: fields}
}

// topLevel renders e for a top-level error array.
func (e *apiError) topLevel(dupKey string) map[string]any {
	m := map[string]any{"message": e.msg, "errorCode": e.code}
	if e.fields != nil {
		m["fields"] = e.fields
	}
	if e.dup != nil {
		m[dupKey] = e.dup
	}
	return m
}

// recordError is a per-record error of a collections result.
type recordError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

func (e *apiError) record() recordError {
	f := e.fields
	if f == nil {
		f = []string{}
	}
	return recordError{StatusCode: e.code, Message: e.msg, Fields: f}
}

// Common errors, in Salesforce's words.
func errNotFound() *apiError {
	return newErr(http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
}

func errSession() *apiError {
	return newErr(http.StatusUnauthorized, "INVALID_SESSION_ID", "Session expired or invalid")
}

func errMethod(method string, allowed ...string) *apiError {
	return newErr(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
		fmt.Sprintf("HTTP Method '%s' not allowed. Allowed are %s", method, strings.Join(allowed, ",")))
}

func errNoSuchColumn(field, object string) *apiError {
	e := newErr(http.StatusBadRequest, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on sobject of type %s", field, object))
	e.request = true
	return e
}

func errJSON(msg string) *apiError {
	e := newErr(http.StatusBadRequest, "JSON_PARSER_ERROR", msg)
	e.request = true
	return e
}

func errReadOnly(field string) *apiError {
	return newErr(http.StatusBadRequest, "INVALID_FIELD_FOR_INSERT_UPDATE",
		fmt.Sprintf("Unable to create/update fields: %s. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", field), field)
}

func errMalformedID(label, v string, field string) *apiError {
	if field == "" {
		return newErr(http.StatusBadRequest, "MALFORMED_ID", "malformed id "+v)
	}
	return newErr(http.StatusBadRequest, "MALFORMED_ID", fmt.Sprintf("%s: id value of incorrect type: %s", label, v), field)
}

const (
	msgRolledBack = "Record rolled back because not all records were valid and the request was using AllOrNone header"
	msgHalted     = "The transaction was rolled back since another operation in the same transaction failed."
)

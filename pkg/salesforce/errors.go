package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
)

// ErrRequestLimit matches (errors.Is) every REQUEST_LIMIT_EXCEEDED answer:
// the org's API allocation (or its long-running request ceiling) is spent.
// The client never retries it; callers slow down or pause.
var ErrRequestLimit = errors.New("salesforce: request limit exceeded")

// APIError is a whole-request failure answered by Salesforce: a non-2xx
// status with the first entry of the JSON error array, the duplicate result
// when a duplicate rule fired, or the record URLs of an HTTP 300 multiple
// match. HTML gateway pages become an APIError with StatusCode and a short
// Message (the page itself is not kept).
type APIError struct {
	StatusCode      int
	ErrorCode       string
	Message         string
	Fields          []string
	DuplicateResult *DuplicateResult
	Matches         []string // HTTP 300: URLs of the records matching the external ID
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("salesforce: ")
	fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
	if e.ErrorCode != "" {
		b.WriteString(" ")
		b.WriteString(e.ErrorCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if len(e.Fields) > 0 {
		fmt.Fprintf(&b, " (fields %s)", strings.Join(e.Fields, ", "))
	}
	if len(e.Matches) > 0 {
		fmt.Fprintf(&b, " (%d matching records)", len(e.Matches))
	}
	return b.String()
}

// Is reports whether target is ErrRequestLimit and e is a REQUEST_LIMIT_EXCEEDED.
func (e *APIError) Is(target error) bool {
	return target == ErrRequestLimit && e.ErrorCode == CodeRequestLimitExceeded
}

// Class returns Classify(e.ErrorCode, e.StatusCode).
func (e *APIError) Class() Class { return Classify(e.ErrorCode, e.StatusCode) }

// RecordError is one per-record error of a collections or composite result
// (Salesforce names its code "statusCode" there).
type RecordError struct {
	StatusCode      string           `json:"statusCode"`
	Message         string           `json:"message"`
	Fields          []string         `json:"fields"`
	DuplicateResult *DuplicateResult `json:"duplicateResult,omitempty"`
}

func (e RecordError) Error() string {
	s := e.StatusCode + ": " + e.Message
	if len(e.Fields) > 0 {
		s += " (fields " + strings.Join(e.Fields, ", ") + ")"
	}
	return s
}

// Class returns Classify(e.StatusCode, 0).
func (e RecordError) Class() Class { return Classify(e.StatusCode, 0) }

// UnmarshalJSON accepts "statusCode" or "errorCode", and the duplicate result
// under either spelling ("duplicateResut", as recorded, or "duplicateResult").
func (e *RecordError) UnmarshalJSON(data []byte) error {
	var w wireError
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*e = w.recordError()
	return nil
}

// DuplicateResult tells which duplicate rule fired and which records matched.
type DuplicateResult struct {
	AllowSave     bool          `json:"allowSave"`
	DuplicateRule string        `json:"duplicateRule"`
	MatchResults  []MatchResult `json:"matchResults"`
}

// MatchResult groups the matched records of one entity type.
type MatchResult struct {
	EntityType   string        `json:"entityType"`
	MatchRecords []MatchRecord `json:"matchRecords"`
}

// MatchRecord is one record matched by a duplicate rule; Record holds at least
// "Id" (more fields with IncludeRecordDetails).
type MatchRecord struct {
	Record          Record  `json:"record"`
	MatchConfidence float64 `json:"matchConfidence"`
}

// IDs returns the Ids of all matched records, in order.
func (d *DuplicateResult) IDs() []string {
	if d == nil {
		return nil
	}
	var ids []string
	for _, mr := range d.MatchResults {
		for _, r := range mr.MatchRecords {
			if id, ok := r.Record["Id"].(string); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// wireError is the union of the error shapes Salesforce sends: REST arrays
// ({errorCode,message,fields}), per-record errors ({statusCode,...}) and the
// duplicate result under both spellings.
type wireError struct {
	ErrorCode       string           `json:"errorCode"`
	StatusCode      string           `json:"statusCode"`
	Message         string           `json:"message"`
	Fields          []string         `json:"fields"`
	DuplicateResut  *DuplicateResult `json:"duplicateResut"`
	DuplicateResult *DuplicateResult `json:"duplicateResult"`
}

func (w wireError) code() string {
	if w.ErrorCode != "" {
		return w.ErrorCode
	}
	return w.StatusCode
}

func (w wireError) dup() *DuplicateResult {
	if w.DuplicateResult != nil {
		return w.DuplicateResult
	}
	return w.DuplicateResut
}

func (w wireError) recordError() RecordError {
	return RecordError{StatusCode: w.code(), Message: w.Message, Fields: w.Fields, DuplicateResult: w.dup()}
}

var titleRE = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)

// parseError turns a non-2xx response into an *APIError. It never fails:
// bodies it cannot read become a short message naming the status.
func parseError(status int, contentType string, body []byte) *APIError {
	e := &APIError{StatusCode: status}
	trimmed := bytes.TrimSpace(body)
	if status == http.StatusMultipleChoices {
		var urls []string
		if json.Unmarshal(trimmed, &urls) == nil {
			e.Matches = urls
			e.Message = fmt.Sprintf("external ID matches %d records", len(urls))
			return e
		}
	}
	if len(trimmed) > 0 && (trimmed[0] == '[' || trimmed[0] == '{') {
		var arr []wireError
		if trimmed[0] == '[' {
			if err := json.Unmarshal(trimmed, &arr); err != nil {
				arr = nil
			}
		} else {
			// OAuth style {"error","error_description"} or a single object.
			var one struct {
				wireError
				Error            string `json:"error"`
				ErrorDescription string `json:"error_description"`
			}
			if json.Unmarshal(trimmed, &one) == nil {
				w := one.wireError
				if w.code() == "" {
					w.ErrorCode = one.Error
				}
				if w.Message == "" {
					w.Message = one.ErrorDescription
				}
				arr = []wireError{w}
			}
		}
		if len(arr) > 0 {
			w := arr[0]
			e.ErrorCode, e.Message, e.Fields, e.DuplicateResult = w.code(), w.Message, w.Fields, w.dup()
			return e
		}
	}
	e.Message = shortBody(status, contentType, trimmed)
	return e
}

// shortBody describes a body that is not a Salesforce error array (gateway
// HTML pages, plain text) in one short line.
func shortBody(status int, contentType string, body []byte) string {
	text := http.StatusText(status)
	if text == "" {
		text = "unexpected status"
	}
	if len(body) == 0 {
		return text + " (empty body)"
	}
	if m := titleRE.FindSubmatch(body); m != nil {
		t := strings.Join(strings.Fields(string(m[1])), " ")
		if len(t) > 80 {
			t = t[:80]
		}
		if t != "" {
			return fmt.Sprintf("%s (HTML page %q)", text, t)
		}
	}
	kind := "non-JSON body"
	if ct := strings.ToLower(contentType); strings.Contains(ct, "html") || bytes.HasPrefix(bytes.ToLower(body), []byte("<")) {
		kind = "HTML page"
	}
	return fmt.Sprintf("%s (%s, %d bytes)", text, kind, len(body))
}

// Class is how a caller should react to a Salesforce failure.
type Class int

const (
	// ClassPermanent: retrying the same request cannot succeed (validation,
	// bad field, not found, malformed query…).
	ClassPermanent Class = iota
	// ClassTransient: retry later with backoff (row locks, 5xx, timeouts,
	// network errors, rolled-back innocent rows).
	ClassTransient
	// ClassSession: the session is invalid; re-authenticate. The client
	// already did so once before returning this.
	ClassSession
	// ClassLimit: REQUEST_LIMIT_EXCEEDED; slow down or pause, don't hammer.
	ClassLimit
	// ClassDuplicate: a duplicate rule (DUPLICATES_DETECTED) or a unique
	// field / repeated key (DUPLICATE_VALUE) refused the record: a policy
	// decision, not a retry.
	ClassDuplicate
	// ClassMultipleMatch: the external ID matches several records
	// (HTTP 300 or DUPLICATE_EXTERNAL_ID); nothing was written.
	ClassMultipleMatch
)

func (c Class) String() string {
	switch c {
	case ClassPermanent:
		return "permanent"
	case ClassTransient:
		return "transient"
	case ClassSession:
		return "session"
	case ClassLimit:
		return "limit"
	case ClassDuplicate:
		return "duplicate"
	case ClassMultipleMatch:
		return "multiple-match"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// codeClass is the classification table, keyed by errorCode (REST
// "errorCode" or per-record "statusCode"). It lists every code of the
// reference error catalogue; codes not listed fall back to the HTTP status.
var codeClass = map[string]Class{
	// re-authenticate
	CodeInvalidSessionID: ClassSession,
	// limits: daily allocation and the long-running concurrency ceiling alike
	CodeRequestLimitExceeded: ClassLimit,
	// transient
	CodeUnableToLockRow:   ClassTransient,
	CodeServerUnavailable: ClassTransient,
	CodeQueryTimeout:      ClassTransient,
	// innocent rows of an allOrNone request or a halted composite: the row
	// itself was fine and succeeds once the offending row is out.
	CodeAllOrNoneOperationRolledBack: ClassTransient,
	CodeProcessingHalted:             ClassTransient,
	// policy outcomes
	CodeDuplicatesDetected:  ClassDuplicate,
	CodeDuplicateValue:      ClassDuplicate,
	CodeDuplicateExternalID: ClassMultipleMatch,
	// permanent, whatever the status says
	CodeInvalidField:                   ClassPermanent,
	CodeRequiredFieldMissing:           ClassPermanent,
	CodeStringTooLong:                  ClassPermanent,
	CodeInvalidEmailAddress:            ClassPermanent,
	CodeFieldCustomValidationException: ClassPermanent,
	CodeMalformedID:                    ClassPermanent,
	CodeMalformedQuery:                 ClassPermanent,
	CodeNotFound:                       ClassPermanent,
	CodeInvalidType:                    ClassPermanent,
	CodeJSONParserError:                ClassPermanent,
	CodeAPIDisabledForOrg:              ClassPermanent,
	CodeMethodNotAllowed:               ClassPermanent,
	CodeInvalidFieldForInsertUpdate:    ClassPermanent,
	CodeInvalidCrossReferenceKey:       ClassPermanent,
	CodeEntityIsDeleted:                ClassPermanent,
	CodeQueryTooComplicated:            ClassPermanent,
}

// Classify maps a Salesforce error to a Class: by errorCode first (REST
// errorCode or per-record statusCode), then by HTTP status (pass 0 when there
// is none, as for per-record errors). Unknown codes with a 5xx gateway status
// are transient; everything else unknown is permanent.
func Classify(errorCode string, httpStatus int) Class {
	if c, ok := codeClass[errorCode]; ok {
		return c
	}
	switch httpStatus {
	case http.StatusMultipleChoices:
		return ClassMultipleMatch
	case http.StatusUnauthorized:
		return ClassSession
	case http.StatusTooManyRequests:
		return ClassLimit
	case http.StatusRequestTimeout,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return ClassTransient
	}
	return ClassPermanent
}

// ClassOf classifies any error returned by this package: an *APIError (or a
// RecordError) through Classify; ErrRequestLimit as ClassLimit; network
// errors, timeouts and truncated responses as ClassTransient; an *AuthError by
// its cause. nil and anything else is ClassPermanent.
func ClassOf(err error) Class {
	if err == nil {
		return ClassPermanent
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Class()
	}
	var re RecordError
	if errors.As(err, &re) {
		return re.Class()
	}
	var rp *RecordError
	if errors.As(err, &rp) {
		return rp.Class()
	}
	if errors.Is(err, ErrRequestLimit) {
		return ClassLimit
	}
	var au *AuthError
	if errors.As(err, &au) {
		return au.class()
	}
	if isNetworkError(err) {
		return ClassTransient
	}
	return ClassPermanent
}

func isNetworkError(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// AuthError is a failed token request. It carries the OAuth error code and
// description only: never the request body, the secret or the assertion.
type AuthError struct {
	StatusCode  int    // 0 when no response arrived
	Code        string // OAuth "error", e.g. invalid_grant, invalid_client_id
	Description string // OAuth "error_description"
	Err         error  // network cause, when StatusCode is 0
}

func (e *AuthError) Error() string {
	if e.StatusCode == 0 {
		return fmt.Sprintf("salesforce: token request failed: %v", e.Err)
	}
	s := fmt.Sprintf("salesforce: token request refused: HTTP %d", e.StatusCode)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

func (e *AuthError) Unwrap() error { return e.Err }

func (e *AuthError) class() Class {
	if e.StatusCode == 0 || e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests {
		return ClassTransient
	}
	return ClassPermanent
}

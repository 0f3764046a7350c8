package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// DuplicateRuleHeader is sent as Sforce-Duplicate-Rule-Header (API v52.0+).
// AllowSave saves a record that an Allow+Alert duplicate rule flags (it
// cannot override Block); IncludeRecordDetails returns the matched records'
// fields, not only their Ids; RunAsCurrentUser searches duplicates with the
// caller's sharing instead of system sharing.
type DuplicateRuleHeader struct{ AllowSave, IncludeRecordDetails, RunAsCurrentUser bool }

// String is the header value, e.g.
// "allowSave=true; includeRecordDetails=true; runAsCurrentUser=false".
func (h DuplicateRuleHeader) String() string {
	return fmt.Sprintf("allowSave=%t; includeRecordDetails=%t; runAsCurrentUser=%t",
		h.AllowSave, h.IncludeRecordDetails, h.RunAsCurrentUser)
}

// WriteOptions apply to one write call. AllOrNone rolls back the whole
// request if any record fails (collections: per chunk of 200). A nil
// DuplicateRule sends no header, which Salesforce treats as all false: an
// Allow+Alert duplicate rule then refuses API saves.
type WriteOptions struct {
	AllOrNone     bool
	DuplicateRule *DuplicateRuleHeader
}

// SaveResult is the outcome of one record write. Created is set by upserts
// (true: inserted, false: updated) and creates. ID is empty for failures.
type SaveResult struct {
	ID      string        `json:"id"`
	Success bool          `json:"success"`
	Created bool          `json:"created"`
	Errors  []RecordError `json:"errors"`
}

// Upsert writes one record by external ID (PATCH
// /sobjects/{sobject}/{extIDField}/{value}): 201 creates, 200 (or 204 before
// v46.0) updates. fields must not carry Id or the external ID field (they
// are dropped). Failures return an *APIError and a SaveResult carrying the
// same error as a RecordError; several matching records give HTTP 300 with
// APIError.Matches (ClassMultipleMatch). Values containing "/" cannot be
// addressed by this resource: use UpsertCollection for those.
func (c *Client) Upsert(ctx context.Context, sobject, extIDField, value string, fields Record, o WriteOptions) (SaveResult, error) {
	if value == "" || strings.Contains(value, "/") {
		return SaveResult{}, fmt.Errorf("salesforce: upsert %s by %s: the value must be non-empty and without '/'; use UpsertCollection", sobject, extIDField)
	}
	body := make(Record, len(fields))
	for k, v := range fields {
		if !strings.EqualFold(k, "Id") && !strings.EqualFold(k, extIDField) && k != "attributes" {
			body[k] = v
		}
	}
	cl := call{
		method: http.MethodPatch,
		path:   "/sobjects/" + url.PathEscape(sobject) + "/" + url.PathEscape(extIDField) + "/" + url.PathEscape(value),
		body:   body,
		dup:    o.DuplicateRule,
		replay: idempotent,
	}
	return c.save(ctx, cl)
}

// Create inserts one record (POST /sobjects/{sobject}). A create whose
// response is lost is not sent again (it may have been written); see the
// package doc on retries.
func (c *Client) Create(ctx context.Context, sobject string, fields Record, o WriteOptions) (SaveResult, error) {
	if fields == nil {
		fields = Record{}
	}
	cl := call{
		method: http.MethodPost,
		path:   "/sobjects/" + url.PathEscape(sobject),
		body:   fields,
		dup:    o.DuplicateRule,
		replay: refusedOnly,
	}
	sr, err := c.save(ctx, cl)
	if err == nil {
		sr.Created = true
	}
	return sr, err
}

func (c *Client) save(ctx context.Context, cl call) (SaveResult, error) {
	resp, err := c.do(ctx, cl)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			return SaveResult{Errors: []RecordError{{
				StatusCode: ae.ErrorCode, Message: ae.Message, Fields: ae.Fields, DuplicateResult: ae.DuplicateResult,
			}}}, err
		}
		return SaveResult{}, err
	}
	if resp.status == http.StatusNoContent || len(resp.body) == 0 {
		return SaveResult{Success: true}, nil
	}
	var sr SaveResult
	if err := decode(cl, resp, &sr); err != nil {
		return SaveResult{}, err
	}
	return sr, nil
}

// Update changes fields of the record with Id id (PATCH
// /sobjects/{sobject}/{id}, 204). An "Id" key in fields is dropped.
func (c *Client) Update(ctx context.Context, sobject, id string, fields Record, o WriteOptions) error {
	if id == "" {
		return errors.New("salesforce: update: empty Id")
	}
	body := make(Record, len(fields))
	for k, v := range fields {
		if !strings.EqualFold(k, "Id") && k != "attributes" {
			body[k] = v
		}
	}
	_, err := c.do(ctx, call{
		method: http.MethodPatch,
		path:   "/sobjects/" + url.PathEscape(sobject) + "/" + url.PathEscape(id),
		body:   body,
		dup:    o.DuplicateRule,
		replay: idempotent,
	})
	return err
}

// Get reads one record by Id (GET /sobjects/{sobject}/{id}), all fields or
// only the ones named.
func (c *Client) Get(ctx context.Context, sobject, id string, fields ...string) (Record, error) {
	if id == "" {
		return nil, errors.New("salesforce: get: empty Id")
	}
	cl := call{method: http.MethodGet, path: "/sobjects/" + url.PathEscape(sobject) + "/" + url.PathEscape(id), replay: idempotent}
	if len(fields) > 0 {
		cl.query = url.Values{"fields": {strings.Join(fields, ",")}}
	}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	var r Record
	if err := decode(cl, resp, &r); err != nil {
		return nil, err
	}
	return r, nil
}

// Delete deletes one record by Id (DELETE /sobjects/{sobject}/{id}, 204).
func (c *Client) Delete(ctx context.Context, sobject, id string) error {
	if id == "" {
		return errors.New("salesforce: delete: empty Id")
	}
	_, err := c.do(ctx, call{method: http.MethodDelete, path: "/sobjects/" + url.PathEscape(sobject) + "/" + url.PathEscape(id), replay: idempotent})
	return err
}

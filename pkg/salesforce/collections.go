package salesforce

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// collectionBody is the sObject Collections request body.
type collectionBody struct {
	AllOrNone bool     `json:"allOrNone"`
	Records   []Record `json:"records"`
}

// UpsertCollection upserts recs by extIDField through sObject Collections
// (PATCH /composite/sobjects/{sobject}/{extIDField}), 200 records per
// request, requests one after another so that Salesforce sees the records in
// input order. Each record must carry extIDField; the client adds
// attributes.type and drops any Id (Salesforce refuses Ids here). Results are
// in input order, one per record; per-record failures are in
// SaveResult.Errors, not in the returned error.
//
// A whole-request failure (after retries) returns the results of the chunks
// already written and the error; the results slice is then shorter than
// recs. AllOrNone applies per chunk of 200.
func (c *Client) UpsertCollection(ctx context.Context, sobject, extIDField string, recs []Record, o WriteOptions) ([]SaveResult, error) {
	path := "/composite/sobjects/" + url.PathEscape(sobject) + "/" + url.PathEscape(extIDField)
	return c.collection(ctx, http.MethodPatch, path, sobject, recs, o, idempotent, true)
}

// UpdateCollection updates records by Id (PATCH /composite/sobjects); each
// record carries "Id". Same chunking, ordering and result rules as
// UpsertCollection.
func (c *Client) UpdateCollection(ctx context.Context, sobject string, recs []Record, o WriteOptions) ([]SaveResult, error) {
	for i, r := range recs {
		if id, _ := r["Id"].(string); id == "" {
			if id, _ := r["id"].(string); id == "" {
				return nil, fmt.Errorf("salesforce: update collection: record %d has no Id", i)
			}
		}
	}
	return c.collection(ctx, http.MethodPatch, "/composite/sobjects", sobject, recs, o, idempotent, false)
}

// CreateCollection inserts records (POST /composite/sobjects). Same
// chunking, ordering and result rules as UpsertCollection; a chunk whose
// response is lost is not sent again (see the package doc on retries), so
// the error then means "unknown outcome" for that chunk.
func (c *Client) CreateCollection(ctx context.Context, sobject string, recs []Record, o WriteOptions) ([]SaveResult, error) {
	return c.collection(ctx, http.MethodPost, "/composite/sobjects", sobject, recs, o, refusedOnly, false)
}

func (c *Client) collection(ctx context.Context, method, path, sobject string, recs []Record, o WriteOptions, rp replay, dropID bool) ([]SaveResult, error) {
	out := make([]SaveResult, 0, len(recs))
	for start := 0; start < len(recs); start += MaxCollectionSize {
		end := min(start+MaxCollectionSize, len(recs))
		chunk := make([]Record, end-start)
		for i, r := range recs[start:end] {
			chunk[i] = wireRecord(r, sobject, dropID)
		}
		cl := call{
			method: method,
			path:   path,
			body:   collectionBody{AllOrNone: o.AllOrNone, Records: chunk},
			dup:    o.DuplicateRule,
			replay: rp,
		}
		resp, err := c.do(ctx, cl)
		if err != nil {
			return out, fmt.Errorf("salesforce: records %d-%d of %d: %w", start, end-1, len(recs), err)
		}
		var res []SaveResult
		if err := decode(cl, resp, &res); err != nil {
			return out, err
		}
		if len(res) != len(chunk) {
			return out, fmt.Errorf("salesforce: %s %s: %d results for %d records", method, path, len(res), len(chunk))
		}
		out = append(out, res...)
	}
	return out, nil
}

// wireRecord copies r with attributes.type set (an existing attributes
// value is kept) and, for upserts, without Id.
func wireRecord(r Record, sobject string, dropID bool) Record {
	w := make(Record, len(r)+1)
	for k, v := range r {
		if dropID && strings.EqualFold(k, "Id") {
			continue
		}
		w[k] = v
	}
	if _, ok := w["attributes"]; !ok {
		w["attributes"] = attributes{Type: sobject}
	}
	return w
}

type attributes struct {
	Type string `json:"type"`
}

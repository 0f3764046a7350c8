package salesforce

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/contactsync/contactsync/pkg/internal/jsonw"
)

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
	var enc collectionEncoder
	for start := 0; start < len(recs); start += MaxCollectionSize {
		end := min(start+MaxCollectionSize, len(recs))
		raw, err := enc.encode(o.AllOrNone, recs[start:end], sobject, dropID)
		if err != nil {
			return out, fmt.Errorf("salesforce: encoding records %d-%d: %w", start, end-1, err)
		}
		cl := call{method: method, path: path, raw: raw, dup: o.DuplicateRule, replay: rp}
		resp, err := c.do(ctx, cl)
		if err != nil {
			return out, fmt.Errorf("salesforce: records %d-%d of %d: %w", start, end-1, len(recs), err)
		}
		res, ok := decodeSaveResults(resp.body)
		if !ok {
			if err := decode(cl, resp, &res); err != nil {
				return out, err
			}
		}
		if len(res) != end-start {
			return out, fmt.Errorf("salesforce: %s %s: %d results for %d records", method, path, len(res), end-start)
		}
		out = append(out, res...)
	}
	return out, nil
}

// collectionEncoder writes {"allOrNone":…,"records":[…]} straight from the
// caller's records: attributes.type first (unless the record has its own
// attributes), then the fields in key order, Id left out for upserts. The
// caller's maps are not modified.
type collectionEncoder struct {
	buf  []byte
	keys []string
}

func (e *collectionEncoder) encode(allOrNone bool, recs []Record, sobject string, dropID bool) ([]byte, error) {
	b := append(e.buf[:0], `{"allOrNone":`...)
	b = strconv.AppendBool(b, allOrNone)
	b = append(b, `,"records":[`...)
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		first := true
		if _, ok := r["attributes"]; !ok {
			b = append(b, `"attributes":{"type":`...)
			b = jsonw.AppendString(b, sobject)
			b = append(b, '}')
			first = false
		}
		e.keys = e.keys[:0]
		for k := range r {
			if dropID && strings.EqualFold(k, "Id") {
				continue
			}
			e.keys = append(e.keys, k)
		}
		slices.Sort(e.keys)
		for _, k := range e.keys {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = jsonw.AppendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = jsonw.AppendValue(b, r[k]); err != nil {
				return nil, fmt.Errorf("field %s: %w", k, err)
			}
		}
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	e.buf = b
	return bytes.Clone(b), nil
}

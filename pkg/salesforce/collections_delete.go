package salesforce

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// DeleteCollection deletes records by Id through sObject Collections
// (DELETE /composite/sobjects?ids=…&allOrNone=…), 200 Ids per request.
// Results are in input order, one per Id; a record already deleted answers
// ENTITY_IS_DELETED and an unknown Id INVALID_CROSS_REFERENCE_KEY, per
// record. A delete is idempotent, so a lost response is retried like any
// transient failure. A whole-request failure returns the results of the
// chunks already done and the error.
func (c *Client) DeleteCollection(ctx context.Context, ids []string, allOrNone bool) ([]SaveResult, error) {
	out := make([]SaveResult, 0, len(ids))
	for start := 0; start < len(ids); start += MaxCollectionSize {
		end := min(start+MaxCollectionSize, len(ids))
		for i, id := range ids[start:end] {
			if id == "" || strings.Contains(id, ",") {
				return out, fmt.Errorf("salesforce: delete collection: Id %d is %q", start+i, id)
			}
		}
		q := url.Values{"ids": {strings.Join(ids[start:end], ",")}, "allOrNone": {strconv.FormatBool(allOrNone)}}
		cl := call{method: http.MethodDelete, path: "/composite/sobjects", query: q, replay: idempotent}
		resp, err := c.do(ctx, cl)
		if err != nil {
			return out, fmt.Errorf("salesforce: delete records %d-%d of %d: %w", start, end-1, len(ids), err)
		}
		var res []SaveResult
		if err := decode(cl, resp, &res); err != nil {
			return out, err
		}
		if len(res) != end-start {
			return out, fmt.Errorf("salesforce: DELETE /composite/sobjects: %d results for %d ids", len(res), end-start)
		}
		out = append(out, res...)
	}
	return out, nil
}

package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Subrequest is one Composite subrequest. URL is a full
// "/services/data/vNN.N/..." path or one relative to the client's API
// version ("sobjects/Contact/Ext__c/A1"); ReferenceID names it for
// "@{ref.id}" references in later subrequests.
type Subrequest struct {
	Method      string `json:"method"`
	URL         string `json:"url"`
	ReferenceID string `json:"referenceId"`
	Body        any    `json:"body,omitempty"`
}

// SubResponse is the answer to one Subrequest, in request order.
type SubResponse struct {
	Body           json.RawMessage   `json:"body"`
	HTTPHeaders    map[string]string `json:"httpHeaders,omitempty"`
	HTTPStatusCode int               `json:"httpStatusCode"`
	ReferenceID    string            `json:"referenceId"`
}

// Err returns nil for a 2xx subresponse and an *APIError (parsed from the
// body) otherwise.
func (s SubResponse) Err() error {
	if s.HTTPStatusCode >= 200 && s.HTTPStatusCode < 300 {
		return nil
	}
	return parseError(s.HTTPStatusCode, "application/json", s.Body)
}

// Composite sends up to 25 subrequests in one call (POST /composite). The
// top-level answer is 200 whatever the subrequests did: check each
// SubResponse. With allOrNone, one failure rolls all back and the others
// report PROCESSING_HALTED. A composite holding a POST is not replayed after a
// lost response; one of GET/PATCH/DELETE only is.
func (c *Client) Composite(ctx context.Context, allOrNone bool, subs []Subrequest) ([]SubResponse, error) {
	if len(subs) == 0 {
		return nil, nil
	}
	if len(subs) > MaxCompositeSubrequests {
		return nil, fmt.Errorf("salesforce: composite: %d subrequests, at most %d", len(subs), MaxCompositeSubrequests)
	}
	rp := idempotent
	norm := make([]Subrequest, len(subs))
	for i, s := range subs {
		if s.ReferenceID == "" {
			return nil, fmt.Errorf("salesforce: composite: subrequest %d has no ReferenceID", i)
		}
		if !strings.HasPrefix(s.URL, "/services/") {
			s.URL = c.base + "/" + strings.TrimPrefix(s.URL, "/")
		}
		s.Method = strings.ToUpper(s.Method)
		if s.Method == http.MethodPost {
			rp = refusedOnly
		}
		norm[i] = s
	}
	cl := call{
		method: http.MethodPost,
		path:   "/composite",
		body: struct {
			AllOrNone        bool         `json:"allOrNone"`
			CompositeRequest []Subrequest `json:"compositeRequest"`
		}{allOrNone, norm},
		replay: rp,
	}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	var out struct {
		CompositeResponse []SubResponse `json:"compositeResponse"`
	}
	if err := decode(cl, resp, &out); err != nil {
		return nil, err
	}
	return out.CompositeResponse, nil
}

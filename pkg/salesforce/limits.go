package salesforce

import (
	"context"
	"encoding/json"
	"net/http"
)

// Limits reads GET /limits: each limit's Max and Remaining, e.g.
// limits["DailyApiRequests"]. Per-app sub-entries are ignored.
func (c *Client) Limits(ctx context.Context) (map[string]Limit, error) {
	cl := call{method: http.MethodGet, path: "/limits", replay: idempotent}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := decode(cl, resp, &raw); err != nil {
		return nil, err
	}
	out := make(map[string]Limit, len(raw))
	for k, v := range raw {
		var l Limit
		if json.Unmarshal(v, &l) == nil {
			out[k] = l
		}
	}
	return out, nil
}

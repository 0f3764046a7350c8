package sfsim

import (
	"net/http"
	"strings"
)

// hRecordCount is GET /limits/recordCount[?sObjects=A,B]: record counts by
// object, {"sObjects":[{"count":N,"name":"Contact"}…]} (v40.0+). Salesforce
// serves counts it refreshes periodically; the emulator's are exact. Unknown
// names are left out; without sObjects every object is listed.
func (s *Server) hRecordCount(c *call) *response {
	var objs []*objectInfo
	if names := c.query.Get("sObjects"); names != "" {
		for _, n := range strings.Split(names, ",") {
			if o := s.model.object(strings.TrimSpace(n)); o != nil {
				objs = append(objs, o)
			}
		}
	} else {
		objs = s.model.objects
	}
	out := make([]map[string]any, 0, len(objs))
	defer c.rlock()()
	for _, o := range objs {
		out = append(out, map[string]any{"count": len(s.objs[o].list), "name": o.name})
	}
	return jsonResp(http.StatusOK, map[string]any{"sObjects": out})
}

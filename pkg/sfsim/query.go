package sfsim

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/sfsim/soql"
)

const (
	defaultBatch = 2000
	minBatch     = 200
	maxLocators  = 1000
)

// locator is a query cursor that nextRecordsUrl pages through.
type locator struct {
	object    string
	aggregate bool
	rows      []map[string]any
	ids       []string // rows[i]'s record Id, for attributes.url
}

// batchSize reads Sforce-Query-Options: batchSize=N (200..2000).
func batchSize(h http.Header) int {
	for _, part := range strings.Split(h.Get("Sforce-Query-Options"), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "batchSize") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return defaultBatch
		}
		return min(max(n, minBatch), defaultBatch)
	}
	return defaultBatch
}

// hQuery is GET /query?q=… (and /queryAll).
func (s *Server) hQuery(c *call) *response {
	q := c.query.Get("q")
	if strings.TrimSpace(q) == "" {
		return s.fail(newErr(http.StatusBadRequest, "MALFORMED_QUERY", "A query string has to be specified"))
	}
	parsed, err := soql.Parse(q, s.model.soqlSchema)
	if err != nil {
		return s.fail(soqlError(err))
	}
	o := s.model.object(parsed.Object())
	if o == nil {
		return s.fail(newErr(http.StatusBadRequest, "INVALID_TYPE", fmt.Sprintf("sObject type '%s' is not supported.", parsed.Object())))
	}
	if strings.EqualFold(c.query.Get("columns"), "true") {
		return jsonResp(http.StatusOK, columnMetadata(o, parsed))
	}
	unlock := c.rlock()
	res, err := parsed.Run(s.objs[o].rows, time.Now())
	unlock()
	if err != nil {
		return s.fail(soqlError(err))
	}
	if res.Count {
		return jsonResp(http.StatusOK, map[string]any{"totalSize": res.TotalSize, "done": true, "records": []any{}})
	}
	loc := &locator{object: o.name, rows: res.Rows, ids: res.IDs, aggregate: parsed.Aggregate()}
	return c.page(loc, "", 0)
}

func soqlError(err error) *apiError {
	var se *soql.Error
	if errors.As(err, &se) {
		return newErr(http.StatusBadRequest, se.Code, se.Message)
	}
	return newErr(http.StatusBadRequest, "MALFORMED_QUERY", err.Error())
}

// page renders rows[offset:offset+batch] of a cursor, registering the
// cursor when more rows follow.
func (c *call) page(loc *locator, id string, offset int) *response {
	total := len(loc.rows)
	end := min(offset+batchSize(c.header), total)
	recs := make([]map[string]any, 0, end-offset)
	for i, row := range loc.rows[offset:end] {
		out := make(map[string]any, len(row)+1)
		for k, v := range row {
			out[k] = v
		}
		if loc.aggregate {
			out["attributes"] = map[string]any{"type": "AggregateResult"}
		} else {
			// Every record names its URL, whether or not Id is selected.
			out["attributes"] = attributes(loc.object, loc.ids[offset+i], c.version)
		}
		recs = append(recs, out)
	}
	body := map[string]any{"totalSize": total, "done": end >= total, "records": recs}
	if end < total {
		if id == "" {
			id = c.s.saveLocator(loc)
		}
		body["nextRecordsUrl"] = fmt.Sprintf("/services/data/v%d.0/query/%s-%d", c.version, id, end)
	}
	return jsonResp(http.StatusOK, body)
}

func (s *Server) saveLocator(loc *locator) string {
	id := makeID("01g", s.idSeq.Add(1))
	s.locMu.Lock()
	defer s.locMu.Unlock()
	s.locators[id] = loc
	s.locOrder = append(s.locOrder, id)
	if len(s.locOrder) > maxLocators {
		delete(s.locators, s.locOrder[0])
		s.locOrder = s.locOrder[1:]
	}
	return id
}

// hQueryMore is GET /query/<locator>-<offset>.
func (s *Server) hQueryMore(c *call) *response {
	bad := newErr(http.StatusBadRequest, "INVALID_QUERY_LOCATOR", "invalid query locator")
	i := strings.LastIndexByte(c.segs[1], '-')
	if i < 0 {
		return s.fail(bad)
	}
	id := c.segs[1][:i]
	offset, err := strconv.Atoi(c.segs[1][i+1:])
	s.locMu.Lock()
	loc := s.locators[id]
	s.locMu.Unlock()
	if err != nil || loc == nil || offset < 0 || offset > len(loc.rows) {
		return s.fail(bad)
	}
	return c.page(loc, id, offset)
}

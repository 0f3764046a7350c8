package sfsim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxLatencyPerRecordMS bounds Faults.LatencyPerRecordMS: a full
// 200-record collection then waits at most latency_ms's own bound (10 min).
const maxLatencyPerRecordMS = 600000 / maxCollection

// Latency is the latency, before jitter, injected into a data call that
// writes records records: LatencyMS plus records × LatencyPerRecordMS.
//
// A write's records are those it submits: each record of a collections
// create, update or upsert, each id of a collections delete, each record
// of a collections subrequest in a composite, one per other write
// subrequest, and one per single-record create, update, upsert or delete.
// Reads, queries and query pages write none and cost only LatencyMS, as
// does a write refused before its records are looked at (bad JSON, more
// than 200 records, an unknown object).
//
// The per-record figure is an assumption, not a measurement: we found no
// published timing of sObject Collections per record or of duplicate-rule
// matching. Salesforce documents only that a collections request is one
// call that saves round trips
// (developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections.htm)
// and that load throughput depends on the object's workflow rules and
// triggers (developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/asynch_api_planning_intro.htm).
// Issue 9 puts a 200-Contact collections upsert with duplicate rules at
// about a second or more; LatencyMS 150 with LatencyPerRecordMS 5
// (150 + 200×5 = 1150 ms) is the suggested setting. Measure your org
// and configure its figures.
func (f Faults) Latency(records int) time.Duration {
	return time.Duration(f.LatencyMS+records*f.LatencyPerRecordMS) * time.Millisecond
}

// faultPlan is what the injected faults do to one request.
type faultPlan struct {
	latency  time.Duration
	kind     string  // a fault that fails the whole request; "" = none
	lockRate float64 // collections: per-record UNABLE_TO_LOCK_ROW probability
}

// drawFaults draws the latency and faults of one request. In a collections
// write, UNABLE_TO_LOCK_ROW is drawn per record (as Salesforce reports
// lock failures) and the other codes per request, each with its share of
// the error rate; elsewhere every code is drawn per request.
func (s *Server) drawFaults(collection bool) faultPlan {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := s.faults
	var p faultPlan
	if f.LatencyMS > 0 || f.JitterMS > 0 {
		p.latency = f.Latency(0)
		if f.JitterMS > 0 {
			p.latency += time.Duration(s.rnd.IntN(f.JitterMS+1)) * time.Millisecond
		}
	}
	if f.ErrorRate <= 0 {
		return p
	}
	kinds := f.Errors
	if len(kinds) == 0 {
		kinds = []string{FaultLockRow}
	}
	if !collection {
		if s.rnd.Float64() < f.ErrorRate {
			p.kind = kinds[s.rnd.IntN(len(kinds))]
		}
		return p
	}
	var whole []string
	for _, k := range kinds {
		if k != FaultLockRow {
			whole = append(whole, k)
		}
	}
	lockShare := float64(len(kinds)-len(whole)) / float64(len(kinds))
	p.lockRate = f.ErrorRate * lockShare
	if len(whole) > 0 && s.rnd.Float64() < f.ErrorRate*(1-lockShare) {
		p.kind = whole[s.rnd.IntN(len(whole))]
	}
	return p
}

// recordLatency waits out the per-record latency of a write of n records,
// before the write takes the store lock. Inside a composite it does
// nothing: the composite counted its subrequests' records up front.
func (c *call) recordLatency(n int) {
	if c.inTx {
		return
	}
	f := c.s.currentFaults()
	if d := f.Latency(n) - f.Latency(0); d > 0 {
		c.s.sleep(c.ctx, d)
	}
}

// sleep waits d through Config.Sleep, or a timer cut short when the
// request ends or the server closes.
func (s *Server) sleep(ctx context.Context, d time.Duration) {
	if s.cfg.Sleep != nil {
		s.cfg.Sleep(ctx, d)
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.closing:
	}
}

// compositeRecords counts the records a composite request writes: the
// records (or ids) of each collections subrequest, one for every other
// write subrequest, none for a GET.
func compositeRecords(subs []subrequest) int {
	n := 0
	for _, sr := range subs {
		if sr.Method == http.MethodGet {
			continue
		}
		u, err := url.Parse(sr.URL)
		if err != nil || !strings.Contains(u.Path, "/composite/sobjects") {
			n++
			continue
		}
		if sr.Method == http.MethodDelete {
			for _, id := range strings.Split(u.Query().Get("ids"), ",") {
				if strings.TrimSpace(id) != "" {
					n++
				}
			}
			continue
		}
		var b struct {
			Records []json.RawMessage `json:"records"`
		}
		_ = json.Unmarshal(sr.Body, &b) // an undecodable body writes nothing
		n += len(b.Records)
	}
	return n
}

// rollLock reports whether one record of a collections write hits a lock.
func (s *Server) rollLock(p float64) bool {
	if p <= 0 {
		return false
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.rnd.Float64() < p
}

func (s *Server) lockError() *apiError {
	return newErr(http.StatusBadRequest, FaultLockRow,
		"unable to obtain exclusive access to this record or 1 records: "+makeID("001", 4242), []string{}...)
}

const gatewayPage = `<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">
<html><head>
<title>502 Bad Gateway</title>
</head><body>
<h1>Bad Gateway</h1>
<p>The proxy server received an invalid
response from an upstream server.<br />
</p>
</body></html>
`

func (s *Server) faultResponse(kind string) *response {
	switch kind {
	case FaultUnavailable:
		return jsonResp(http.StatusServiceUnavailable, []any{map[string]any{
			"message": "Server temporarily unavailable. Please try again later.", "errorCode": FaultUnavailable}})
	case FaultHTML502:
		return &response{status: http.StatusBadGateway, raw: []byte(gatewayPage), ctype: "text/html; charset=iso-8859-1"}
	}
	return s.fail(s.lockError())
}

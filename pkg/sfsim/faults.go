package sfsim

import (
	"net/http"
	"time"
)

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
		ms := f.LatencyMS
		if f.JitterMS > 0 {
			ms += s.rnd.IntN(f.JitterMS + 1)
		}
		p.latency = time.Duration(ms) * time.Millisecond
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

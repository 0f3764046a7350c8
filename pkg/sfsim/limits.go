package sfsim

import "net/http"

func (s *Server) dailyMax() int64 {
	if f := s.currentFaults(); f.DailyLimit > 0 {
		return int64(f.DailyLimit)
	}
	return int64(s.cfg.DailyLimit)
}

// countRoute counts a request that is not an API call (token, refused session).
func (s *Server) countRoute(name string) {
	s.statMu.Lock()
	s.routes[name]++
	s.statMu.Unlock()
}

// countCall counts an authenticated data call against the allocation;
// ok is false once it is spent (the call is refused, not counted as usage).
func (s *Server) countCall(name string) (used, max int64, ok bool) {
	max = s.dailyMax()
	s.statMu.Lock()
	defer s.statMu.Unlock()
	s.routes[name]++
	s.apiCalls++
	if s.apiUsed >= max {
		return s.apiUsed, max, false
	}
	s.apiUsed++
	return s.apiUsed, max, true
}

func (s *Server) usage() (used, max int64) {
	max = s.dailyMax()
	s.statMu.Lock()
	defer s.statMu.Unlock()
	return s.apiUsed, max
}

type limit struct {
	Max       int64 `json:"Max"`
	Remaining int64 `json:"Remaining"`
}

// hLimits is GET /limits: DailyApiRequests agrees with Sforce-Limit-Info.
func (s *Server) hLimits(c *call) *response {
	used, max := s.usage()
	rem := max - used
	if rem < 0 {
		rem = 0
	}
	full := func(n int64) limit { return limit{Max: n, Remaining: n} }
	batches, queries := s.bulk.usage()
	left := func(max, used int64) limit { return limit{Max: max, Remaining: max - min(used, max)} }
	return jsonResp(http.StatusOK, map[string]any{
		"DailyApiRequests":              limit{Max: max, Remaining: rem},
		"DailyBulkApiRequests":          left(DailyBulkBatches, batches),
		"DailyBulkApiBatches":           left(DailyBulkBatches, batches),
		"DailyBulkV2QueryJobs":          left(DailyBulkQueryJobs, queries),
		"DailyBulkV2QueryFileStorageMB": full(976562),
		"ConcurrentSyncReportRuns":      full(20),
		"DataStorageMB":                 full(1024),
		"SingleEmail":                   full(5000),
	})
}

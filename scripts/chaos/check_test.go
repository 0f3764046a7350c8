package main

import (
	"net/http"
	"testing"
)

func TestRegressions(t *testing.T) {
	w := func(v, s0, s1 int64) writeRec { return writeRec{Version: v, Seq0: s0, Seq1: s1, Success: true} }
	for _, tc := range []struct {
		name         string
		ws           []writeRec
		reg, overlap int
	}{
		{"in order", []writeRec{w(1, 1, 2), w(2, 3, 4), w(3, 5, 6)}, 0, 0},
		{"older after newer", []writeRec{w(2, 1, 2), w(1, 3, 4)}, 1, 0},
		{"hidden by a later write", []writeRec{w(2, 1, 2), w(1, 3, 4), w(3, 5, 6)}, 1, 0},
		{"same version again", []writeRec{w(2, 1, 2), w(2, 3, 4)}, 0, 0},
		{"in flight together", []writeRec{w(1, 1, 4), w(2, 2, 3)}, 0, 1},
		{"order unknown is not a regression", []writeRec{w(2, 1, 4), w(1, 2, 5)}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, over := regressions(tc.ws)
			if reg != tc.reg || over != tc.overlap {
				t.Errorf("regressions = %d, %d; want %d, %d", reg, over, tc.reg, tc.overlap)
			}
		})
	}
}

func TestParseWrite(t *testing.T) {
	body := `{"allOrNone":false,"records":[{"attributes":{"type":"Contact"},"Description":"v=7","External_Contact_ID__c":"MC_1","LastName":"Doe"},` +
		`{"attributes":{"type":"Contact"},"Description":"v=9","External_Contact_ID__c":"mc_2","Sync_Version__c":9}]}`
	resp := `[{"id":"003A","success":true,"errors":[],"created":true},{"success":false,"errors":[{"statusCode":"UNABLE_TO_LOCK_ROW","message":"x"}]}]`
	segs, _ := dataPath("/services/data/v60.0/composite/sobjects/Contact/External_Contact_ID__c")
	recs, route, err := parseWrite(http.MethodPatch, segs, []byte(body), 200, []byte(resp))
	if err != nil || route != "upsert-collection" || len(recs) != 2 {
		t.Fatalf("parseWrite = %v, %q, %v", recs, route, err)
	}
	if r := recs[0]; r.ExtID != "MC_1" || r.Version != 7 || !r.Success || !r.Created || r.ID != "003A" {
		t.Errorf("record 0 = %+v", r)
	}
	if r := recs[1]; r.Success || r.Code != "UNABLE_TO_LOCK_ROW" || r.SyncVersion != 9 {
		t.Errorf("record 1 = %+v", r)
	}
	// A whole-request refusal applies nothing.
	recs, _, _ = parseWrite(http.MethodPatch, segs, []byte(body), 503, []byte(`[{"errorCode":"SERVER_UNAVAILABLE","message":"x"}]`))
	if recs[0].Success || recs[0].Code != "SERVER_UNAVAILABLE" {
		t.Errorf("503: %+v", recs[0])
	}
	// Update by Id (adoption), and a single-record upsert with an escaped ID.
	segs, _ = dataPath("/services/data/v60.0/composite/sobjects")
	recs, route, _ = parseWrite(http.MethodPatch, segs, []byte(`{"records":[{"attributes":{"type":"Contact"},"Id":"003B","Description":"v=3"}]}`), 200,
		[]byte(`[{"id":"003B","success":true,"errors":[]}]`))
	if route != "update-collection" || recs[0].ID != "003B" || recs[0].ExtID != "" || !recs[0].Success {
		t.Errorf("update: %q %+v", route, recs)
	}
	segs, _ = dataPath("/services/data/v60.0/sobjects/Contact/External_Contact_ID__c/CH%2F1.x")
	recs, route, _ = parseWrite(http.MethodPatch, segs, []byte(`{"Description":"v=4"}`), 204, nil)
	if route != "upsert" || recs[0].ExtID != "CH/1.x" || recs[0].Version != 4 || !recs[0].Success {
		t.Errorf("single upsert: %q %+v", route, recs)
	}
	// Exception records are counted, not logged as Contact writes.
	segs, _ = dataPath("/services/data/v60.0/composite/sobjects/Contact_Sync_Exception__c/Exception_Key__c")
	if _, route, _ = parseWrite(http.MethodPatch, segs, []byte(`{"records":[{"Exception_Key__c":"k"}]}`), 200, []byte(`[{"id":"a0A","success":true}]`)); route != "exception" {
		t.Errorf("exception route = %q", route)
	}
}

package main

import (
	"fmt"
	"sort"
	"strings"
)

// dlqEntry is one message of the DLQ stream.
type dlqEntry struct {
	Seq     uint64
	ExtID   string
	Version int64
	Code    string
	Delta   bool // the payload is a contact delta
}

// sfContact is one Contact as SOQL returned it.
type sfContact struct {
	ID, ExtID, Description, Email string
}

// sfException is one Contact_Sync_Exception__c.
type sfException struct {
	Key, Kind, Incoming, Existing string
}

// finalState is everything the checks read after the run.
type finalState struct {
	Contacts   []sfContact
	Exceptions []sfException
	DLQ        []dlqEntry
	SeedIDs    map[string]string // seeded Contact Id -> key of the generated contact it collides with
}

// checkWrites analyses the write log: regressions (an older version applied
// after a newer one was), overlapping writes of one contact, and writes the
// log cannot attribute. idKey maps Salesforce Ids to folded external IDs.
func checkWrites(rep *Report, ds *dataSet, writes []writeRec, idKey map[string]string) {
	byKey := map[string][]writeRec{}
	for _, w := range writes {
		rep.RecordWrites++
		if !w.Success {
			if rep.RefusedByCode == nil {
				rep.RefusedByCode = map[string]int{}
			}
			rep.RefusedByCode[w.Code]++
			if w.Code == "FIELD_CUSTOM_VALIDATION_EXCEPTION" {
				rep.example("Salesforce refused a write of %q v=%d (%s): FIELD_CUSTOM_VALIDATION_EXCEPTION", w.ExtID+w.ID, w.Version, w.Route)
			}
			continue
		}
		rep.AppliedWrites++
		if w.SyncVersion != 0 {
			rep.SyncVersionWrites++
		}
		key := fold(w.ExtID)
		if w.ExtID == "" {
			key = idKey[w.ID]
		}
		if key == "" {
			rep.UnattributedWrite++
			rep.example("unattributed write: %s of Id %s (no external ID known)", w.Route, w.ID)
			continue
		}
		if w.Version == 0 {
			rep.UnversionedWrites++
			rep.example("unversioned write: %s of %q carries no Description marker", w.Route, key)
			continue
		}
		if w.SyncVersion != 0 && w.SyncVersion != w.Version {
			rep.SyncVersionWrong++
			rep.example("write of %q: Sync_Version__c %d but its newest delta is v=%d", key, w.SyncVersion, w.Version)
		}
		byKey[key] = append(byKey[key], w)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		ws := byKey[key]
		e := ds.Expect[key]
		if e != nil && (e.Kind == kindInvalid || e.Kind == kindConflict) {
			rep.example("applied write of %s contact %q (v=%d, %s)", e.Kind, key, ws[0].Version, ws[0].Route)
		}
		for _, w := range ws {
			if ds.Rejected[rejectKey(key, w.Version)] {
				rep.example("applied write of %q carries v=%d, a row the producer must refuse", key, w.Version)
			}
		}
		if len(ws) > 1 {
			rep.RewrittenContacts++
		}
		reg, over := regressions(ws)
		if reg > 0 {
			rep.Regressions += reg
			rep.RegressedContacts++
		}
		rep.OverlappingWrites += over
		if reg > 0 || over > 0 {
			rep.example("contact %q: %d regressions, %d overlapping writes; applied in order: %s", key, reg, over, describeWrites(ws))
		}
	}
}

// regressions counts, in one contact's applied writes, those older than a
// write that had completed before they started, and the pairs of writes in
// flight at the same time with different versions.
func regressions(ws []writeRec) (reg, overlap int) {
	byStart := append([]writeRec(nil), ws...)
	sort.Slice(byStart, func(i, j int) bool { return byStart[i].Seq0 < byStart[j].Seq0 })
	byEnd := append([]writeRec(nil), ws...)
	sort.Slice(byEnd, func(i, j int) bool { return byEnd[i].Seq1 < byEnd[j].Seq1 })
	var newestDone int64
	j := 0
	for i, b := range byStart {
		for j < len(byEnd) && byEnd[j].Seq1 < b.Seq0 {
			newestDone = max(newestDone, byEnd[j].Version)
			j++
		}
		if newestDone > b.Version {
			reg++
		}
		for k := i + 1; k < len(byStart) && byStart[k].Seq0 < b.Seq1; k++ {
			if byStart[k].Version != b.Version {
				overlap++
			}
		}
	}
	return reg, overlap
}

func describeWrites(ws []writeRec) string {
	s := append([]writeRec(nil), ws...)
	sort.Slice(s, func(i, j int) bool { return s[i].Seq0 < s[j].Seq0 })
	var parts []string
	for i, w := range s {
		if i == 12 {
			parts = append(parts, fmt.Sprintf("… %d more", len(s)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("v=%d[%d..%d %s %s]", w.Version, w.Seq0, w.Seq1, w.At.Format("15:04:05.000"), w.Route))
	}
	return strings.Join(parts, " ")
}

// checkFinal compares what Salesforce holds with what the input says it must.
func checkFinal(rep *Report, ds *dataSet, st finalState, writes []writeRec) {
	byKey := map[string][]sfContact{}
	for _, c := range st.Contacts {
		if c.ExtID == "" {
			if _, seeded := st.SeedIDs[c.ID]; !seeded {
				rep.Unexpected++
				rep.example("unexpected Contact %s without external ID", c.ID)
			}
			continue
		}
		byKey[fold(c.ExtID)] = append(byKey[fold(c.ExtID)], c)
	}
	seedKeys := map[string]string{} // folded seed external ID -> generated key
	for key, e := range ds.Expect {
		if e.SeedExtID != "" {
			seedKeys[fold(e.SeedExtID)] = key
		}
	}
	for key, cs := range byKey {
		if ds.Expect[key] == nil && seedKeys[key] == "" {
			rep.Unexpected += len(cs)
			rep.example("unexpected Contact %s with external ID %q", cs[0].ID, cs[0].ExtID)
		}
	}
	// Invalid rows that reached Salesforce, from the log or the final state.
	invalid, held := map[string]bool{}, map[string]bool{}
	for _, w := range writes {
		if !w.Success || w.ExtID == "" {
			continue
		}
		key := fold(w.ExtID)
		if e := ds.Expect[key]; e != nil && e.Kind == kindInvalid || ds.Rejected[rejectKey(key, w.Version)] {
			invalid[key] = true
		}
		if e := ds.Expect[key]; e != nil && e.Kind == kindConflict {
			held[key] = true
		}
	}
	keys := make([]string, 0, len(ds.Expect))
	for k := range ds.Expect {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		e := ds.Expect[key]
		cs := byKey[key]
		switch e.Kind {
		case kindInvalid:
			if len(cs) > 0 {
				invalid[key] = true
			}
			continue
		case kindConflict:
			if len(cs) > 0 {
				held[key] = true
				rep.example("held conflict %q exists in Salesforce (%s)", key, cs[0].Description)
			}
			seed := byKey[fold(e.SeedExtID)]
			if len(seed) != 1 || seed[0].Description != "seed" || !strings.EqualFold(seed[0].Email, e.Email) {
				rep.violate("conflict target %s of %q changed or gone: %+v", e.SeedExtID, key, seed)
			}
			continue
		}
		switch {
		case len(cs) == 0:
			rep.Missing++
			rep.example("missing: %q (%s, newest v=%d)", key, e.Kind, e.Newest)
			continue
		case len(cs) > 1:
			rep.Duplicates += len(cs) - 1
			rep.example("duplicates: %d Contacts for %q", len(cs), key)
		}
		got := parseMarker(cs[0].Description)
		switch {
		case got == e.Newest:
		case ds.Rejected[rejectKey(key, got)]:
			invalid[key] = true
			rep.example("contact %q holds v=%d, a row the producer must refuse", key, got)
		case got < e.Newest:
			rep.StaleAtEnd++
			rep.example("stale: %q (%s) holds %q, newest is v=%d (versions %v, spellings %v)", key, e.Kind, cs[0].Description, e.Newest, e.Versions, e.Spellings)
		default:
			rep.violate("contact %q holds %q, a version nobody sent (newest v=%d)", key, cs[0].Description, e.Newest)
		}
		if e.Kind == kindAdopt {
			if seedFor := st.SeedIDs[cs[0].ID]; seedFor != key {
				rep.violate("adoption: %q is Contact %s, not the seeded unlinked contact with its email", key, cs[0].ID)
			}
		}
	}
	rep.InvalidWritten = len(invalid)
	rep.ConflictsWritten = len(held)
}

// checkDLQ compares the DLQ with the rows Salesforce refuses.
func checkDLQ(rep *Report, ds *dataSet, entries []dlqEntry) {
	want := map[string]string{} // key\x00version -> code
	for key, e := range ds.Expect {
		if e.Kind == kindInvalid {
			want[rejectKey(key, e.Newest)] = e.DLQCode
		}
	}
	rep.DLQExpected = len(want)
	rep.DLQActual = len(entries)
	seen := map[string]int{}
	for _, d := range entries {
		id := rejectKey(fold(d.ExtID), d.Version)
		code, ok := want[id]
		switch {
		case !d.Delta || !ok:
			rep.DLQUnexpected++
			rep.example("unexpected dead letter seq %d: %q v=%d %s", d.Seq, d.ExtID, d.Version, d.Code)
			continue
		case code != d.Code:
			rep.DLQWrongCode++
			rep.example("dead letter %q: %s, want %s", d.ExtID, d.Code, code)
		}
		seen[id]++
		if seen[id] == 2 {
			rep.example("dead letter %q v=%d is in the DLQ more than once", d.ExtID, d.Version)
		}
	}
	for id := range want {
		switch n := seen[id]; {
		case n == 0:
			rep.DLQMissing++
			k, _, _ := strings.Cut(id, "\x00")
			rep.example("missing dead letter: %q", k)
		case n > 1:
			rep.DLQDuplicates += n - 1
		}
	}
}

// checkExceptions wants one Email_Conflict record per held conflict.
func checkExceptions(rep *Report, ds *dataSet, exs []sfException) {
	want := map[string]*expectation{}
	for key, e := range ds.Expect {
		if e.Kind == kindConflict {
			want[key] = e
		}
	}
	rep.ExceptionsExpected = len(want)
	rep.ExceptionsActual = len(exs)
	keys := map[string]int{}
	per := map[string]int{}
	for _, x := range exs {
		keys[strings.ToLower(x.Key)]++
		e := want[fold(x.Incoming)]
		if e == nil || x.Kind != "Email_Conflict" || !strings.EqualFold(x.Existing, e.SeedExtID) {
			rep.ExceptionsUnexpected++
			rep.example("unexpected exception %s: kind %s, incoming %q, existing %q", x.Key, x.Kind, x.Incoming, x.Existing)
			continue
		}
		per[fold(x.Incoming)]++
	}
	for k, n := range keys {
		if n > 1 {
			rep.violate("Exception_Key__c %s appears %d times", k, n)
		}
	}
	for key := range want {
		switch n := per[key]; {
		case n == 0:
			rep.ExceptionsMissing++
			rep.example("no exception record for held conflict %q", key)
		case n > 1:
			rep.ExceptionDuplicates += n - 1
			rep.example("%d exception records for conflict %q", n, key)
		}
	}
}

// judge turns the figures into violations.
func judge(rep *Report) {
	add := func(n int, what string) {
		if n > 0 {
			rep.violate("%d %s", n, what)
		}
	}
	add(rep.Regressions, "regressions in the write log (an older version applied after a newer one)")
	add(rep.OverlappingWrites, "overlapping writes of one contact with different versions (two writers at once)")
	add(rep.StaleAtEnd, "stale contacts at the end")
	add(rep.Missing, "valid contacts missing from Salesforce")
	add(rep.Duplicates, "duplicate Contacts")
	add(rep.Unexpected, "unexpected Contacts")
	add(rep.InvalidWritten, "invalid rows written to Salesforce")
	add(rep.ConflictsWritten, "held conflicts written")
	add(rep.UnversionedWrites, "applied writes without a version marker")
	add(rep.UnattributedWrite, "applied writes the log cannot attribute to a contact")
	add(rep.SyncVersionWrong, "writes whose Sync_Version__c differs from their newest delta")
	add(rep.UnparsedWrites, "write requests the proxy could not parse")
	add(rep.DLQMissing, "refused rows missing from the DLQ")
	add(rep.DLQUnexpected, "unexpected DLQ entries")
	add(rep.DLQDuplicates, "duplicate DLQ entries")
	add(rep.DLQWrongCode, "DLQ entries with another reason than Salesforce's")
	add(rep.ExceptionsMissing, "held conflicts without an exception record")
	add(rep.ExceptionDuplicates, "duplicate exception records")
	add(rep.ExceptionsUnexpected, "unexpected exception records")
	if rep.RejectedExpected != rep.RejectedActual {
		rep.violate("the producer refused %d rows at ingest, want %d", rep.RejectedActual, rep.RejectedExpected)
	}
	if rep.StreamMessages != rep.ValidDeltas {
		rep.violate("CONTACTS holds %d deltas, want %d (one per valid row)", rep.StreamMessages, rep.ValidDeltas)
	}
	if !rep.Quiescent {
		rep.violate("the fleet did not settle within --timeout")
	}
}

package report

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/salesforce"
)

// exportContacts reads every contact once: Id, the external ID, Email,
// LastModifiedDate and the fields the fleet's fingerprints cover. It counts
// the org first (one call) and uses a Bulk query job from the threshold on.
func exportContacts(ctx context.Context, org Org, cfg Config, extra map[string]bool) ([]contact, Call, error) {
	c0 := org.APICalls()
	call := Call{Read: "contacts", For: "1 3 4"}
	fields := []string{"Id", cfg.ExternalIDField, "Email", "LastModifiedDate"}
	have := map[string]bool{}
	for _, f := range fields {
		have[strings.ToLower(f)] = true
	}
	var more []string
	for f := range extra {
		if !have[strings.ToLower(f)] && validField(f) {
			more = append(more, f)
		}
	}
	sort.Strings(more)
	fields = append(fields, more...)
	soql := "SELECT " + strings.Join(fields, ", ") + " FROM " + cfg.Object

	count := -1
	if cfg.BulkThreshold > 0 {
		it := org.Query(ctx, "SELECT COUNT() FROM "+cfg.Object)
		for it.Next() {
		}
		if err := it.Err(); err != nil {
			return nil, call, fmt.Errorf("count %s records: %w", cfg.Object, err)
		}
		count = it.TotalSize()
	}
	var out []contact
	add := func(rec salesforce.Record) {
		c := contact{id: text(rec["Id"]), ext: text(rec[cfg.ExternalIDField]), email: text(rec["Email"]), values: rec}
		c.modified = parseTime(text(rec["LastModifiedDate"]))
		out = append(out, c)
	}
	if count >= 0 && count >= cfg.BulkThreshold {
		call.Via = "bulk"
		it := org.BulkQuery(ctx, soql, cfg.Bulk)
		for it.Next() {
			add(it.Record())
		}
		if err := it.Err(); err != nil {
			return nil, call, fmt.Errorf("export %s records (Bulk query job; SYNC_BULK_THRESHOLD=%d): %w", cfg.Object, cfg.BulkThreshold, err)
		}
	} else {
		call.Via = "soql"
		it := org.Query(ctx, soql)
		for it.Next() {
			add(it.Record())
		}
		if err := it.Err(); err != nil {
			return nil, call, fmt.Errorf("export %s records (SOQL): %w", cfg.Object, err)
		}
	}
	call.Rows = len(out)
	call.Calls = org.APICalls() - c0
	return out, call, nil
}

// exceptions reads the exception records that wait for a person (report 2)
// and the counts by kind and status for the chart.
func exceptions(ctx context.Context, org Org, cfg Config, r *Result, email, link func(string) string) error {
	c0 := org.APICalls()
	it := org.Query(ctx, "SELECT Kind__c, Status__c, COUNT(Id) n FROM "+cfg.ExceptionObject+" GROUP BY Kind__c, Status__c")
	for it.Next() {
		rec := it.Record()
		n, _ := toInt(rec["n"])
		r.Exceptions = append(r.Exceptions, ExceptionCount{Kind: orBlank(text(rec["Kind__c"])), Status: orBlank(text(rec["Status__c"])), Count: n})
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("count %s records: %w", cfg.ExceptionObject, err)
	}
	sort.Slice(r.Exceptions, func(i, j int) bool {
		a, b := r.Exceptions[i], r.Exceptions[j]
		return a.Kind < b.Kind || a.Kind == b.Kind && a.Status < b.Status
	})
	r.Calls = append(r.Calls, Call{Read: "exceptions by kind and status", Via: "soql", Rows: len(r.Exceptions), Calls: org.APICalls() - c0, For: "page"})

	c0 = org.APICalls()
	q := "SELECT Id, Kind__c, Status__c, Resolution__c, Incoming_External_Id__c, Existing_Contact__c, Existing_External_Id__c, Email__c, Apply_Error__c FROM " +
		cfg.ExceptionObject + " WHERE Status__c IN (" + salesforce.Quote("New") + ", " + salesforce.Quote("Resolved") + ", " + salesforce.Quote("Apply_Failed") + ") ORDER BY Id"
	it = org.Query(ctx, q)
	rows := 0
	for it.Next() {
		rec := it.Record()
		rows++
		status := text(rec["Status__c"])
		detail := text(rec["Apply_Error__c"])
		switch {
		case status == "New":
			detail = "waiting for a steward's decision"
		case status == "Resolved":
			detail = "decided (" + text(rec["Resolution__c"]) + "), waiting to be applied"
		case detail != "" && !cfg.ShowPII:
			detail = maskText(detail)
		}
		r.Failures = append(r.Failures, FailureRow{Kind: KindException, RecordID: text(rec["Id"]), SalesforceID: text(rec["Existing_Contact__c"]),
			ExternalID: text(rec["Incoming_External_Id__c"]), ExistingExternalID: text(rec["Existing_External_Id__c"]),
			Email: email(text(rec["Email__c"])), Code: text(rec["Kind__c"]), Status: status, Detail: detail, Link: link(text(rec["Id"]))})
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read %s records waiting for a steward: %w", cfg.ExceptionObject, err)
	}
	r.Calls = append(r.Calls, Call{Read: "exceptions not applied", Via: "soql", Rows: rows, Calls: org.APICalls() - c0, For: "2"})
	return nil
}

// validField keeps a fingerprint's field name to what an API name can be,
// so a damaged state entry cannot change the query.
func validField(f string) bool {
	if f == "" || len(f) > 80 {
		return false
	}
	for _, r := range f {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	return fmt.Sprint(v)
}

func orBlank(s string) string {
	if s == "" {
		return "(blank)"
	}
	return s
}

func toInt(v any) (int64, error) {
	switch n := v.(type) {
	case float64:
		return int64(n), nil
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	}
	var i int64
	_, err := fmt.Sscan(text(v), &i)
	return i, err
}

// parseTime reads Salesforce's datetime forms: SOQL JSON
// (2026-12-02T14:00:00.000+0000) and Bulk CSV (2026-12-02T14:00:00.000Z).
func parseTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05.000Z07:00", time.RFC3339Nano, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/salesforce"
)

// Salesforce is what a report reads from the org (pkg/salesforce.Client).
type Salesforce interface {
	QueryAll(ctx context.Context, soql string) ([]salesforce.Record, error)
	Limits(ctx context.Context) (map[string]salesforce.Limit, error)
}

// ExceptionCount is the number of Contact_Sync_Exception__c records of one
// kind and status.
type ExceptionCount struct {
	Kind   string `json:"kind"`
	Status string `json:"status"`
	Count  int64  `json:"count"`
}

// APIUsage is the org's daily API allocation.
type APIUsage struct {
	Max       int `json:"max"`
	Remaining int `json:"remaining"`
	Used      int `json:"used"`
}

// SalesforceReport is the org's side of a report.
type SalesforceReport struct {
	Exceptions []ExceptionCount `json:"exceptions"`
	API        *APIUsage        `json:"daily_api_requests,omitempty"`
}

// Report sums up what the pipeline holds and, with a Salesforce client, what
// the org holds.
type Report struct {
	DeltasBySegment      map[string]uint64 `json:"deltas_by_segment"`
	DLQByCode            map[string]uint64 `json:"dlq_by_code"`
	DLQBySegment         map[string]uint64 `json:"dlq_by_segment"`
	ConflictsByKind      map[string]uint64 `json:"conflicts_by_kind"`
	ConflictsUndecodable uint64            `json:"conflicts_undecodable,omitempty"`
	Salesforce           *SalesforceReport `json:"salesforce,omitempty"`
	// SalesforceError says why the org could not be queried; the NATS
	// half is reported all the same (Report then also returns the error).
	SalesforceError string `json:"salesforce_error,omitempty"`
}

// ExceptionsSOQL counts exception records by kind and status.
const ExceptionsSOQL = "SELECT Kind__c, Status__c, COUNT(Id) n FROM Contact_Sync_Exception__c GROUP BY Kind__c, Status__c"

// Report builds the summary. sf may be nil (no org configured).
func (o *Ops) Report(ctx context.Context, sf Salesforce) (Report, error) {
	var rep Report
	var err error
	if rep.DeltasBySegment, err = o.countBySegment(ctx, bus.StreamContacts, "contacts.delta.>"); err != nil {
		return rep, err
	}
	if rep.DLQBySegment, err = o.countBySegment(ctx, bus.StreamDLQ, bus.DLQSubjects); err != nil {
		return rep, err
	}
	if rep.DLQByCode, err = o.dlqByCode(ctx); err != nil {
		return rep, err
	}
	rep.ConflictsByKind = map[string]uint64{}
	err = scan(ctx, o.js, bus.StreamConflicts, "", scanFrom{}, false, func(r record) error {
		ev, err := conflict.DecodeEvent(r.Data)
		if err != nil {
			rep.ConflictsUndecodable++
			return nil
		}
		rep.ConflictsByKind[string(ev.Kind)]++
		return nil
	})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return rep, err
	}
	if sf == nil {
		return rep, nil
	}
	sr, err := salesforceReport(ctx, sf)
	if err != nil {
		rep.SalesforceError = err.Error()
		return rep, fmt.Errorf("salesforce half of the report: %w", err)
	}
	rep.Salesforce = &sr
	return rep, nil
}

func salesforceReport(ctx context.Context, sf Salesforce) (SalesforceReport, error) {
	var sr SalesforceReport
	recs, err := sf.QueryAll(ctx, ExceptionsSOQL)
	if err != nil {
		return sr, fmt.Errorf("count exception records: %w", err)
	}
	sr.Exceptions = []ExceptionCount{}
	for _, r := range recs {
		n, err := toInt(r["n"])
		if err != nil {
			return sr, fmt.Errorf("count exception records: field n: %w", err)
		}
		sr.Exceptions = append(sr.Exceptions, ExceptionCount{Kind: str(r["Kind__c"]), Status: str(r["Status__c"]), Count: n})
	}
	limits, err := sf.Limits(ctx)
	if err != nil {
		return sr, fmt.Errorf("org limits: %w", err)
	}
	if l, ok := limits["DailyApiRequests"]; ok {
		sr.API = &APIUsage{Max: l.Max, Remaining: l.Remaining, Used: l.Max - l.Remaining}
	}
	return sr, nil
}

func str(v any) string {
	if v == nil {
		return "(blank)"
	}
	if s, ok := v.(string); ok {
		if s == "" {
			return "(blank)"
		}
		return s
	}
	return fmt.Sprint(v)
}

func toInt(v any) (int64, error) {
	switch n := v.(type) {
	case float64:
		return int64(n), nil
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	case json.Number:
		return n.Int64()
	case string:
		return strconv.ParseInt(n, 10, 64)
	}
	return 0, fmt.Errorf("not a number: %T %v", v, v)
}

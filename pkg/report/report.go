package report

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/telemetry"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// DefaultBulkThreshold is the org size (contacts) from which the export is
// one Bulk API 2.0 query job instead of paged SOQL. It is the same number
// as `syncctl backfill` uses (SYNC_BULK_THRESHOLD): 10,000 contacts are 5
// SOQL pages, about what a Bulk job costs in calls (create, a few status
// reads, results pages).
const DefaultBulkThreshold = 10000

// Org is what the reports read from Salesforce (*salesforce.Client).
type Org interface {
	Query(ctx context.Context, soql string) *salesforce.QueryIterator
	BulkQuery(ctx context.Context, soql string, o salesforce.BulkQueryOptions) *salesforce.BulkQueryIterator
	Limits(ctx context.Context) (map[string]salesforce.Limit, error)
	APICalls() int64
	InstanceURL() string
}

// Config tunes a run. Zero values take the defaults.
type Config struct {
	Object          string // default "Contact"
	ExternalIDField string // default "External_Contact_ID__c"
	ExceptionObject string // default "Contact_Sync_Exception__c"
	// BulkThreshold: export through a Bulk query job from this many
	// contacts; 0 = DefaultBulkThreshold, negative = never.
	BulkThreshold int
	Bulk          salesforce.BulkQueryOptions
	// CaseSensitiveIDs compares external IDs exactly; only for a field
	// marked case-sensitive (ours is not).
	CaseSensitiveIDs bool
	// ShowPII puts emails in clear; masked by default.
	ShowPII bool
	// Now is the report time (default time.Now); report 4 is the 24 hours
	// before it.
	Now    time.Time
	Window time.Duration // report 4's window; default 24h
}

func (c *Config) setDefaults() {
	if c.Object == "" {
		c.Object = "Contact"
	}
	if c.ExternalIDField == "" {
		c.ExternalIDField = "External_Contact_ID__c"
	}
	if c.ExceptionObject == "" {
		c.ExceptionObject = "Contact_Sync_Exception__c"
	}
	if c.BulkThreshold == 0 {
		c.BulkThreshold = DefaultBulkThreshold
	}
	if c.Now.IsZero() {
		c.Now = time.Now()
	}
	if c.Window <= 0 {
		c.Window = 24 * time.Hour
	}
}

// DeadLetter is one DLQ entry, as syncctl lists it (already masked unless
// --show-pii).
type DeadLetter struct {
	Seq        uint64
	Segment    string
	ExternalID string
	Code       string
	Message    string
	FailedAt   time.Time
}

// Inputs are what a run reads besides the org.
type Inputs struct {
	// State is the contact_state bucket: the fleet's Salesforce Ids and
	// fingerprints (drift), and the source of report 3 when Source is nil.
	State       jetstream.KeyValue
	DeadLetters []DeadLetter
	// Source lists the source's external IDs; nil = what the fleet applied.
	Source *Source
}

// Row kinds of report 2 and 3.
const (
	KindDeadLetter = "dead_letter"
	KindException  = "exception"

	GapMissing = "missing_from_salesforce"
	GapUnknown = "unknown_to_source"
	GapDrift   = "drift"
)

// DuplicateRow is one contact of report 1.
type DuplicateRow struct {
	SalesforceID     string `json:"salesforce_id"`
	ExternalID       string `json:"external_id"`
	Email            string `json:"email"`
	OtherExternalIDs string `json:"other_external_ids"`
	Link             string `json:"link"`
}

// FailureRow is one dead letter or exception record of report 2.
type FailureRow struct {
	Kind               string `json:"kind"`
	RecordID           string `json:"record_id"`     // DLQ sequence, or the exception record's Id
	SalesforceID       string `json:"salesforce_id"` // the contact, when known
	ExternalID         string `json:"external_id"`
	ExistingExternalID string `json:"existing_external_id,omitempty"`
	Email              string `json:"email,omitempty"`
	Code               string `json:"code"`   // error code, or exception kind
	Status             string `json:"status"` // exception status; "dead_letter"
	Detail             string `json:"detail"`
	Link               string `json:"link"`
}

// GapRow is one contact of report 3.
type GapRow struct {
	Problem          string `json:"problem"`
	SalesforceID     string `json:"salesforce_id"`
	SourceExternalID string `json:"source_external_id"`
	SFExternalID     string `json:"salesforce_external_id"`
	Email            string `json:"email"`
	Fields           string `json:"fields,omitempty"` // drift: the fields the fleet wrote last
	Link             string `json:"link"`
}

// RecentRow is one contact of report 4.
type RecentRow struct {
	SalesforceID string `json:"salesforce_id"`
	ExternalID   string `json:"external_id"`
	Email        string `json:"email"`
	LastModified string `json:"last_modified"`
	Link         string `json:"link"`
}

// Call is what one read cost.
type Call struct {
	Read  string `json:"read"`
	Via   string `json:"via"` // soql, bulk, rest, nats
	Rows  int    `json:"rows"`
	Calls int64  `json:"api_calls"`
	For   string `json:"for"` // the reports it serves
}

// ExceptionCount is exception records of one kind and status.
type ExceptionCount struct {
	Kind   string `json:"kind"`
	Status string `json:"status"`
	Count  int64  `json:"count"`
}

// Result is one run of the four reports.
type Result struct {
	At             time.Time        `json:"at"`
	InstanceURL    string           `json:"instance_url"`
	Source         string           `json:"source"`
	Contacts       int              `json:"contacts"`
	Duplicates     []DuplicateRow   `json:"-"`
	Failures       []FailureRow     `json:"-"`
	Gaps           []GapRow         `json:"-"`
	Recent         []RecentRow      `json:"-"`
	Exceptions     []ExceptionCount `json:"exceptions_by_kind_status"`
	DLQByCode      map[string]int   `json:"dlq_by_code"`
	APIUsed        int              `json:"daily_api_used"`
	APIMax         int              `json:"daily_api_max"`
	Calls          []Call           `json:"calls"`
	SourceRejected int              `json:"source_rejected,omitempty"`
}

// Totals are the row counts per report, the JSON summary's headline.
type Totals struct {
	DuplicateEmails int `json:"duplicate_emails"`
	Failures        int `json:"failures"`
	MissingFromSF   int `json:"missing_from_salesforce"`
	UnknownToSource int `json:"unknown_to_source"`
	Drift           int `json:"drift"`
	SourceGaps      int `json:"source_gaps"`
	Updated24h      int `json:"updated_24h"`
}

// Totals counts the rows.
func (r *Result) Totals() Totals {
	t := Totals{DuplicateEmails: len(r.Duplicates), Failures: len(r.Failures), SourceGaps: len(r.Gaps), Updated24h: len(r.Recent)}
	for _, g := range r.Gaps {
		switch g.Problem {
		case GapMissing:
			t.MissingFromSF++
		case GapUnknown:
			t.UnknownToSource++
		case GapDrift:
			t.Drift++
		}
	}
	return t
}

// NonEmpty reports whether any report has a row (syncctl exits 3 then).
func (r *Result) NonEmpty() bool {
	return len(r.Duplicates)+len(r.Failures)+len(r.Gaps)+len(r.Recent) > 0
}

// TotalCalls is the API calls the run cost.
func (r *Result) TotalCalls() int64 {
	var n int64
	for _, c := range r.Calls {
		n += c.Calls
	}
	return n
}

// contact is one row of the org export.
type contact struct {
	id, ext, email string
	modified       time.Time
	values         map[string]any
}

// Run reads the org, the fleet's state and the source and builds the four
// reports.
func Run(ctx context.Context, org Org, in Inputs, cfg Config) (*Result, error) {
	cfg.setDefaults()
	r := &Result{At: cfg.Now.UTC(), InstanceURL: strings.TrimRight(org.InstanceURL(), "/"), DLQByCode: map[string]int{}}
	fold := func(s string) string {
		if cfg.CaseSensitiveIDs {
			return s
		}
		return strings.ToLower(s)
	}

	// The fleet's state: Salesforce Id → fingerprint; the fields to export.
	type applied struct{ ext, fp string }
	state := map[string]applied{} // by Salesforce Id
	stateIDs := map[string]string{}
	fpFields := map[string]bool{}
	if in.State != nil {
		n, err := readState(ctx, in.State, func(ext string, st upsert.State) {
			if st.Deleted {
				return
			}
			stateIDs[fold(ext)] = ext
			if st.ID != "" {
				state[st.ID] = applied{ext: ext, fp: st.Fingerprint}
			}
			for _, f := range upsert.FingerprintFields(st.Fingerprint) {
				fpFields[f] = true
			}
		})
		if err != nil {
			return nil, fmt.Errorf("contact state (bucket contact_state): %w", err)
		}
		r.Calls = append(r.Calls, Call{Read: "contact state", Via: "nats", Rows: n, For: "3"})
	}

	// Report 2's dead letters.
	for _, dl := range in.DeadLetters {
		r.DLQByCode[dl.Code]++
		row := FailureRow{Kind: KindDeadLetter, RecordID: fmt.Sprint(dl.Seq), ExternalID: dl.ExternalID, Code: dl.Code,
			Status: "dead_letter", Detail: dl.Message}
		r.Failures = append(r.Failures, row)
	}
	if len(in.DeadLetters) > 0 || in.State != nil {
		r.Calls = append(r.Calls, Call{Read: "dead letters", Via: "nats", Rows: len(in.DeadLetters), For: "2"})
	}

	// The org's contacts, once, for reports 1, 3 and 4.
	contacts, call, err := exportContacts(ctx, org, cfg, fpFields)
	if err != nil {
		return nil, err
	}
	r.Calls = append(r.Calls, call)
	r.Contacts = len(contacts)
	link := func(id string) string {
		if id == "" {
			return ""
		}
		return r.InstanceURL + "/" + id
	}
	email := func(s string) string {
		if cfg.ShowPII || s == "" {
			return s
		}
		return MaskEmail(s)
	}

	// Report 1: one email, several external IDs.
	byEmail := map[string][]*contact{}
	var emails []string
	for i := range contacts {
		c := &contacts[i]
		if c.email == "" || c.ext == "" {
			continue
		}
		k := strings.ToLower(c.email)
		if _, ok := byEmail[k]; !ok {
			emails = append(emails, k)
		}
		byEmail[k] = append(byEmail[k], c)
	}
	sort.Strings(emails)
	for _, k := range emails {
		cs := byEmail[k]
		ids := map[string]bool{}
		for _, c := range cs {
			ids[fold(c.ext)] = true
		}
		if len(ids) < 2 {
			continue
		}
		for _, c := range cs {
			var others []string
			for _, o := range cs {
				if fold(o.ext) != fold(c.ext) {
					others = append(others, o.ext)
				}
			}
			r.Duplicates = append(r.Duplicates, DuplicateRow{SalesforceID: c.id, ExternalID: c.ext, Email: email(c.email),
				OtherExternalIDs: strings.Join(others, " "), Link: link(c.id)})
		}
	}

	// Report 3: the source against Salesforce, both ways, and drift.
	src := in.Source
	if src == nil {
		src = &Source{Name: "fleet state (contact_state)", IDs: stateIDs}
		if in.State == nil {
			src = nil
		}
	}
	sfByExt := map[string]*contact{}
	byID := map[string]*contact{}
	for i := range contacts {
		c := &contacts[i]
		byID[c.id] = c
		if c.ext != "" {
			sfByExt[fold(c.ext)] = c
		}
	}
	if src != nil {
		r.Source = src.Name
		r.SourceRejected = src.Rejected
		srcIDs := map[string]string{}
		for k, v := range src.IDs {
			srcIDs[fold(k)] = v
		}
		var missing []string
		for k := range srcIDs {
			if sfByExt[k] == nil {
				missing = append(missing, k)
			}
		}
		sort.Strings(missing)
		for _, k := range missing {
			r.Gaps = append(r.Gaps, GapRow{Problem: GapMissing, SourceExternalID: srcIDs[k]})
		}
		for i := range contacts {
			c := &contacts[i]
			if c.ext != "" {
				if _, ok := srcIDs[fold(c.ext)]; !ok {
					r.Gaps = append(r.Gaps, GapRow{Problem: GapUnknown, SalesforceID: c.id, SFExternalID: c.ext, Email: email(c.email), Link: link(c.id)})
				}
			}
		}
	}
	var drifted []string
	for id := range state {
		drifted = append(drifted, id)
	}
	sort.Strings(drifted)
	for _, id := range drifted {
		a := state[id]
		c := byID[id]
		if a.fp == "" || c == nil {
			continue // written before fingerprints, or gone (then missing above)
		}
		if ok, fields := upsert.FingerprintMatches(a.fp, c.values); !ok {
			r.Gaps = append(r.Gaps, GapRow{Problem: GapDrift, SalesforceID: id, SourceExternalID: a.ext, SFExternalID: c.ext,
				Email: email(c.email), Fields: strings.Join(fields, " "), Link: link(id)})
		}
	}

	// Report 4: modified in the window.
	since := cfg.Now.Add(-cfg.Window)
	for i := range contacts {
		c := &contacts[i]
		if !c.modified.IsZero() && !c.modified.Before(since) {
			r.Recent = append(r.Recent, RecentRow{SalesforceID: c.id, ExternalID: c.ext, Email: email(c.email),
				LastModified: c.modified.UTC().Format(time.RFC3339), Link: link(c.id)})
		}
	}
	sort.Slice(r.Recent, func(i, j int) bool { return r.Recent[i].LastModified > r.Recent[j].LastModified })

	// Report 2's exception records, the chart's counts, API usage.
	if err := exceptions(ctx, org, cfg, r, email, link); err != nil {
		return nil, err
	}
	c0 := org.APICalls()
	limits, err := org.Limits(ctx)
	if err != nil {
		return nil, fmt.Errorf("org limits: %w", err)
	}
	if l, ok := limits["DailyApiRequests"]; ok {
		r.APIMax, r.APIUsed = l.Max, l.Max-l.Remaining
	}
	r.Calls = append(r.Calls, Call{Read: "daily API usage", Via: "rest", Rows: 1, Calls: org.APICalls() - c0, For: "page"})
	return r, nil
}

// MaskEmail masks an email as the CLI does ("j***@example.com"); a value
// that is no email keeps its first character.
func MaskEmail(s string) string {
	if m := telemetry.MaskEmails(s); m != s {
		return m
	}
	for _, r := range s {
		return string(r) + "***"
	}
	return s
}

// readState reads every contact's state with one watch of the bucket (the
// server streams the last value of each key; no request per key).
func readState(ctx context.Context, kv jetstream.KeyValue, each func(ext string, st upsert.State)) (int, error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	n := 0
	for {
		var e jetstream.KeyValueEntry
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case e = <-w.Updates():
		}
		if e == nil {
			return n, nil // every key's current value has been seen
		}
		k := e.Key()
		if strings.Contains(k, ".") {
			continue // partition leases (lease.pNN), not contacts
		}
		ext, err := delta.KeyToID(k)
		if err != nil {
			continue
		}
		st, err := upsert.DecodeState(e.Value())
		if err != nil {
			continue // not a contact's state
		}
		n++
		each(ext, st)
	}
}

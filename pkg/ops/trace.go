package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/salesforce"
)

// TraceSalesforce is what a trace reads from the org (*salesforce.Client).
type TraceSalesforce interface {
	QueryAll(ctx context.Context, soql string) ([]salesforce.Record, error)
}

// TraceConfig names the contact a trace follows.
type TraceConfig struct {
	ExternalID string
	// ShowPII keeps names, emails and phones in clear; by default they are
	// masked as in dlq list.
	ShowPII bool
	// ExternalIDField and Object default to External_Contact_ID__c and
	// Contact.
	ExternalIDField, Object string
	// Progress, when set, is told how far the filtered scans of DLQ and
	// CONFLICTS are (their subjects carry the segment, not the contact, so
	// every message is read); total is the stream's message count.
	Progress func(stream string, read, total uint64)
}

// TraceState is the contact's entry in bus.BucketState.
type TraceState struct {
	SalesforceID string    `json:"salesforce_id,omitempty"`
	Version      int64     `json:"last_applied_version"`
	Deleted      bool      `json:"tombstone,omitempty"` // deleted at Version
	Written      time.Time `json:"written"`             // when the entry was last written
	Revision     uint64    `json:"revision"`
}

// TraceDelta is one delta of the contact in CONTACTS.
type TraceDelta struct {
	Seq        uint64         `json:"seq"`
	Stored     time.Time      `json:"stored"`
	Subject    string         `json:"subject"`
	Segment    string         `json:"segment"`
	Partition  int            `json:"partition"`
	ExternalID string         `json:"external_id"` // as spelled in the delta
	Op         string         `json:"op"`
	Version    int64          `json:"version"`
	Source     string         `json:"source,omitempty"`
	EmittedAt  time.Time      `json:"emitted_at,omitzero"`
	Fields     map[string]any `json:"fields,omitempty"`
	Ticket     string         `json:"replay_ticket,omitempty"` // Cs-Replay-Ticket of a replay or backfill
	// Outcome is inferred from the other sources: applied (the state's
	// version), dead_lettered, conflict, below_applied (older than what
	// is applied: superseded, stale or applied before) or not_applied.
	Outcome string `json:"outcome"`
	// Invalid is why the payload could not be read as a delta.
	Invalid string `json:"invalid,omitempty"`
}

// TraceConflict is one conflict event naming the contact.
type TraceConflict struct {
	Seq    uint64         `json:"seq"`
	Stored time.Time      `json:"stored"`
	Role   string         `json:"role"` // incoming | existing
	Event  conflict.Event `json:"event"`
}

// Trace is everything the pipeline and the org hold about one contact.
type Trace struct {
	ExternalID  string          `json:"external_id"`
	Key         string          `json:"key"`       // delta.ContactKey: subject token and state key
	Partition   int             `json:"partition"` // of CONTACTS
	State       *TraceState     `json:"state"`     // nil: no entry
	Deltas      []TraceDelta    `json:"deltas"`
	DeadLetters []DeadLetter    `json:"dead_letters"`
	Conflicts   []TraceConflict `json:"conflicts"`
	// Scanned counts the messages read to find the dead letters and
	// conflict events (whole-stream filtered scans).
	Scanned map[string]uint64 `json:"scanned"`
	// Salesforce is nil when the org was not asked (SF_LOGIN_URL unset).
	Salesforce *TraceOrg `json:"salesforce,omitempty"`
	// SalesforceError says why the org could not be read; the rest is
	// reported all the same.
	SalesforceError string       `json:"salesforce_error,omitempty"`
	Timeline        []TraceEvent `json:"timeline"`
}

// TraceOrg is the org's side: the Contact(s) with the external ID and the
// exception records naming it.
type TraceOrg struct {
	Contacts   []salesforce.Record `json:"contacts"`
	Exceptions []salesforce.Record `json:"exceptions"`
}

// TraceEvent is one line of the timeline.
type TraceEvent struct {
	Time    time.Time `json:"time"`
	Source  string    `json:"source"` // CONTACTS, DLQ, CONFLICTS, contact_state, Contact, Contact_Sync_Exception__c
	Seq     uint64    `json:"seq,omitzero"`
	Version int64     `json:"version,omitzero"`
	What    string    `json:"what"`
}

// ErrNeverSeen is returned (wrapped) by Trace for a contact that nothing
// holds: no delta, no state, no dead letter, no conflict, nothing in the org.
var ErrNeverSeen = errors.New("never seen")

// Trace gathers what CONTACTS, contact state, DLQ, CONFLICTS and (with sf)
// Salesforce hold about the contact with cfg.ExternalID, matched
// case-insensitively as Salesforce matches it.
//
// Deltas are found by subject: CONTACTS stores them as
// contacts.delta.<segment>.<partition>.<key>, so the server filters on the
// key and only the contact's own deltas are read. DLQ and CONFLICTS
// subjects carry only the segment, so those streams are read whole (headers
// only for DLQ) and filtered here; cfg.Progress reports how far.
//
// A contact nothing holds returns the (empty) trace and an error wrapping
// ErrNeverSeen. An org that cannot be read sets SalesforceError and returns
// the error with the rest of the trace.
func (o *Ops) Trace(ctx context.Context, sf TraceSalesforce, cfg TraceConfig) (Trace, error) {
	tr := Trace{ExternalID: cfg.ExternalID, Deltas: []TraceDelta{}, DeadLetters: []DeadLetter{}, Conflicts: []TraceConflict{},
		Scanned: map[string]uint64{}, Timeline: []TraceEvent{}}
	if strings.TrimSpace(cfg.ExternalID) == "" {
		return tr, fmt.Errorf("%w: --external-id is required", ErrInvalid)
	}
	if cfg.ExternalIDField == "" {
		cfg.ExternalIDField = delta.ExternalIDField
	}
	if cfg.Object == "" {
		cfg.Object = "Contact"
	}
	key := delta.ContactKey(cfg.ExternalID)
	tr.Key = key
	var partitions int
	if err := o.read(ctx, "partitions of stream "+bus.StreamContacts, func(ctx context.Context) (err error) {
		partitions, err = bus.StreamPartitions(ctx, o.js)
		return err
	}); err != nil {
		return tr, err
	}
	tr.Partition = bus.Partition(key, partitions)

	// Contact state.
	if err := o.read(ctx, "contact state in bucket "+bus.BucketState, func(ctx context.Context) error {
		kv, err := o.js.KeyValue(ctx, bus.BucketState)
		if err != nil {
			return fmt.Errorf("bucket %s: %w", bus.BucketState, err)
		}
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the contact state: %w", err)
		}
		var st struct {
			ID      string `json:"id"`
			Version int64  `json:"v"`
			Deleted bool   `json:"deleted"`
		}
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			return fmt.Errorf("contact state %s: %w", key, err)
		}
		tr.State = &TraceState{SalesforceID: st.ID, Version: st.Version, Deleted: st.Deleted, Written: e.Created(), Revision: e.Revision()}
		return nil
	}); err != nil {
		return tr, err
	}

	// Deltas: the subject carries the key, so the server filters.
	filter := fmt.Sprintf("contacts.delta.*.%d.%s", tr.Partition, key)
	if err := scan(ctx, o.js, bus.StreamContacts, filter, scanFrom{}, false, func(r record) error {
		tr.Deltas = append(tr.Deltas, traceDelta(r, partitions, cfg.ShowPII))
		return nil
	}); err != nil {
		return tr, err
	}

	// Dead letters: a filtered scan of headers, then the matches in full.
	total := o.streamMsgs(ctx, bus.StreamDLQ)
	var dlqSeqs []uint64
	var read uint64
	if err := scan(ctx, o.js, bus.StreamDLQ, bus.DLQSubjects, scanFrom{}, true, func(r record) error {
		read++
		o.progress(cfg, bus.StreamDLQ, read, total)
		if delta.ContactKey(r.Header.Get(delta.HeaderExternalID)) == key {
			dlqSeqs = append(dlqSeqs, r.Seq)
		}
		return nil
	}); err != nil {
		return tr, err
	}
	tr.Scanned[bus.StreamDLQ] = read
	for _, seq := range dlqSeqs {
		dl, err := o.DeadLetter(ctx, seq)
		if errors.Is(err, ErrNotFound) {
			continue // replayed or purged since the scan
		}
		if err != nil {
			return tr, err
		}
		if !cfg.ShowPII {
			dl = dl.Redacted()
		}
		tr.DeadLetters = append(tr.DeadLetters, dl)
	}

	// Conflict events naming the contact, as incoming or existing.
	total, read = o.streamMsgs(ctx, bus.StreamConflicts), 0
	if err := scan(ctx, o.js, bus.StreamConflicts, bus.ConflictsSubjects, scanFrom{}, false, func(r record) error {
		read++
		o.progress(cfg, bus.StreamConflicts, read, total)
		var ev conflict.Event
		if json.Unmarshal(r.Data, &ev) != nil {
			return nil
		}
		role := ""
		if delta.ContactKey(ev.IncomingExternalID) == key {
			role = "incoming"
		} else if slices.ContainsFunc(ev.ExistingExternalIDs, func(x string) bool { return x != "" && delta.ContactKey(x) == key }) {
			role = "existing"
		}
		if role == "" {
			return nil
		}
		if !cfg.ShowPII {
			ev = redactEvent(ev)
		}
		tr.Conflicts = append(tr.Conflicts, TraceConflict{Seq: r.Seq, Stored: r.Time, Role: role, Event: ev})
		return nil
	}); err != nil {
		return tr, err
	}
	tr.Scanned[bus.StreamConflicts] = read

	// The org.
	var sfErr error
	if sf != nil {
		org, err := o.traceOrg(ctx, sf, cfg, tr.State)
		if err != nil {
			tr.SalesforceError = err.Error()
			sfErr = err
		} else {
			tr.Salesforce = org
		}
	}

	inferOutcomes(&tr)
	tr.Timeline = timeline(tr, cfg)
	if len(tr.Timeline) == 0 && sfErr == nil {
		where := "CONTACTS, contact state, DLQ or CONFLICTS"
		if sf != nil {
			where += ", nor the org"
		}
		keep := ""
		if age := o.streamMaxAge(ctx, bus.StreamContacts); age > 0 {
			keep = " (CONTACTS keeps deltas " + cli.FormatDuration(age) + ")"
		}
		return tr, fmt.Errorf("contact %q: %w: nothing in %s holds it%s; check the spelling and the segment's producer",
			cfg.ExternalID, ErrNeverSeen, where, keep)
	}
	return tr, sfErr
}

func (o *Ops) progress(cfg TraceConfig, stream string, read, total uint64) {
	if cfg.Progress != nil {
		cfg.Progress(stream, read, total)
	}
}

// streamMsgs is the stream's message count (0 if it cannot be read: the
// scan that follows reports the error).
func (o *Ops) streamMsgs(ctx context.Context, name string) uint64 {
	cctx, cancel := context.WithTimeout(ctx, bus.DefaultCallTimeout)
	defer cancel()
	s, err := o.js.Stream(cctx, name)
	if err != nil {
		return 0
	}
	return s.CachedInfo().State.Msgs
}

func (o *Ops) streamMaxAge(ctx context.Context, name string) time.Duration {
	cctx, cancel := context.WithTimeout(ctx, bus.DefaultCallTimeout)
	defer cancel()
	s, err := o.js.Stream(cctx, name)
	if err != nil {
		return 0
	}
	return s.CachedInfo().Config.MaxAge
}

func traceDelta(r record, partitions int, showPII bool) TraceDelta {
	td := TraceDelta{Seq: r.Seq, Stored: r.Time, Subject: r.Subject, Segment: bus.SegmentOf(r.Subject),
		ExternalID: r.Header.Get(delta.HeaderExternalID), Ticket: r.Header.Get(HeaderReplayTicket), Partition: -1}
	if toks := strings.Split(r.Subject, "."); len(toks) == 5 {
		if p, err := strconv.Atoi(toks[3]); err == nil && p < partitions {
			td.Partition = p
		}
	}
	var d delta.Delta
	if err := json.Unmarshal(r.Data, &d); err != nil {
		td.Invalid = maskText(err.Error())
		return td
	}
	td.Op, td.Version, td.Source, td.EmittedAt, td.Fields = d.Op, d.Version, d.Source, d.EmittedAt, d.Fields
	if td.Op == "" {
		td.Op = delta.OpUpsert
	}
	if d.ExternalID != "" {
		td.ExternalID = d.ExternalID
	}
	if !showPII {
		td.Fields = maskFields(td.Fields)
	}
	return td
}

// maskFields masks the values of name, email and phone fields and emails
// anywhere else (a copy; nil stays nil).
func maskFields(fields map[string]any) map[string]any {
	if fields == nil {
		return nil
	}
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		if s, ok := v.(string); ok {
			if piiFields[strings.ToLower(k)] || piiFields[strings.ToLower(strings.TrimSuffix(k, "__c"))] {
				v = maskValue(s)
			} else {
				v = maskText(s)
			}
		}
		out[k] = v
	}
	return out
}

func redactEvent(ev conflict.Event) conflict.Event {
	if ev.Email != "" {
		ev.Email = maskValue(ev.Email)
	}
	if len(ev.Delta) > 0 {
		ev.Delta = redactPayload(ev.Delta)
	}
	return ev
}

// traceOrg reads the Contact and the exception records naming it (as the
// incoming or the existing contact). Every literal is escaped.
func (o *Ops) traceOrg(ctx context.Context, sf TraceSalesforce, cfg TraceConfig, st *TraceState) (*TraceOrg, error) {
	q := salesforce.Quote(cfg.ExternalID)
	contacts, err := sf.QueryAll(ctx, "SELECT Id, FirstName, LastName, Email, Phone, "+cfg.ExternalIDField+", Sync_Version__c, CreatedDate, LastModifiedDate FROM "+
		cfg.Object+" WHERE "+cfg.ExternalIDField+" = "+q)
	if err != nil {
		return nil, fmt.Errorf("read the contact in Salesforce: %w", err)
	}
	where := "Incoming_External_Id__c = " + q + " OR Existing_External_Id__c = " + q
	ids := map[string]bool{}
	for _, c := range contacts {
		if id, _ := c["Id"].(string); id != "" {
			ids[id] = true
		}
	}
	if st != nil && st.SalesforceID != "" {
		ids[st.SalesforceID] = true
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		where += " OR Existing_Contact__c = " + salesforce.Quote(id)
	}
	exc, err := sf.QueryAll(ctx, "SELECT Id, Name, Kind__c, Status__c, Resolution__c, Policy__c, Segment__c, Incoming_External_Id__c, "+
		"Existing_Contact__c, Existing_External_Id__c, Email__c, Source_Version__c, Last_Seen__c, Applied_At__c, Apply_Error__c, CreatedDate "+
		"FROM Contact_Sync_Exception__c WHERE "+where)
	if err != nil {
		return nil, fmt.Errorf("read the exception records in Salesforce: %w", err)
	}
	// Contact fields are masked by name (as in dead letters); an exception
	// record's only personal field is Email__c (its Name is CSX-000001).
	mask := func(recs []salesforce.Record, pii func(field string) bool) {
		for _, r := range recs {
			delete(r, "attributes")
			if cfg.ShowPII {
				continue
			}
			for k, v := range r {
				if s, ok := v.(string); ok && pii(k) {
					r[k] = maskValue(s)
				} else if ok {
					r[k] = maskText(s)
				}
			}
		}
	}
	mask(contacts, func(k string) bool { return piiFields[strings.ToLower(k)] })
	mask(exc, func(k string) bool { return strings.EqualFold(k, "Email__c") })
	return &TraceOrg{Contacts: nonNil(contacts), Exceptions: nonNil(exc)}, nil
}

func nonNil(r []salesforce.Record) []salesforce.Record {
	if r == nil {
		return []salesforce.Record{}
	}
	return r
}

// inferOutcomes says what became of each delta, from the state, the dead
// letters and the conflict events.
func inferOutcomes(tr *Trace) {
	dead := map[uint64]string{}
	for _, dl := range tr.DeadLetters {
		if dl.OrigSeq > 0 {
			dead[dl.OrigSeq] = dl.ErrorCode
		}
	}
	conflicted := map[int64]string{}
	for _, c := range tr.Conflicts {
		if c.Role == "incoming" {
			conflicted[c.Event.SourceVersion] = string(c.Event.Kind)
		}
	}
	for i := range tr.Deltas {
		d := &tr.Deltas[i]
		applied := int64(-1)
		if tr.State != nil {
			applied = tr.State.Version
		}
		switch {
		case d.Invalid != "":
			d.Outcome = "invalid"
		case dead[d.Seq] != "":
			d.Outcome = "dead_lettered " + dead[d.Seq]
		case conflicted[d.Version] != "":
			d.Outcome = "conflict " + conflicted[d.Version]
		case d.Version == applied:
			d.Outcome = "applied"
		case d.Version < applied:
			d.Outcome = "below_applied"
		default:
			d.Outcome = "not_applied"
		}
	}
}

func timeline(tr Trace, cfg TraceConfig) []TraceEvent {
	var ev []TraceEvent
	for _, d := range tr.Deltas {
		what := fmt.Sprintf("delta %s v%d segment %s partition %d → %s", d.Op, d.Version, d.Segment, d.Partition, d.Outcome)
		if d.Invalid != "" {
			what = "unreadable delta: " + d.Invalid
		}
		if d.Ticket != "" {
			what += " (replay ticket " + d.Ticket + ")"
		}
		ev = append(ev, TraceEvent{Time: d.Stored, Source: bus.StreamContacts, Seq: d.Seq, Version: d.Version, What: what})
	}
	for _, dl := range tr.DeadLetters {
		what := fmt.Sprintf("dead letter %s: %s (after %d deliveries", dl.ErrorCode, dl.Message, dl.Deliveries)
		if dl.OrigSeq > 0 {
			what += fmt.Sprintf(", CONTACTS seq %d", dl.OrigSeq)
		}
		if t := dl.Header.Get(HeaderReplayTicket); t != "" {
			what += ", failed again after replay " + t
		}
		ev = append(ev, TraceEvent{Time: dl.FailedAt, Source: bus.StreamDLQ, Seq: dl.Seq, Version: payloadVersion(dl.Data), What: what + ")"})
	}
	for _, c := range tr.Conflicts {
		t := c.Event.SeenAt
		if t.IsZero() {
			t = c.Stored
		}
		ev = append(ev, TraceEvent{Time: t, Source: bus.StreamConflicts, Seq: c.Seq, Version: c.Event.SourceVersion,
			What: fmt.Sprintf("conflict %s (policy %s) as the %s contact; existing %s", c.Event.Kind, c.Event.Policy, c.Role,
				dash(strings.Join(c.Event.ExistingExternalIDs, ",")))})
	}
	if st := tr.State; st != nil {
		what := fmt.Sprintf("state: Salesforce Id %s, last applied version %d", dash(st.SalesforceID), st.Version)
		if st.Deleted {
			what += ", tombstone (deleted at that version)"
		}
		ev = append(ev, TraceEvent{Time: st.Written, Source: "contact_state", Version: st.Version, What: what})
	}
	if org := tr.Salesforce; org != nil {
		for _, c := range org.Contacts {
			t := sfTime(c["LastModifiedDate"])
			ver := sfInt(c["Sync_Version__c"])
			ev = append(ev, TraceEvent{Time: t, Source: cfg.Object, Version: ver,
				What: fmt.Sprintf("%s %s last modified: %s, Sync_Version__c %d", cfg.Object, c["Id"], personName(c), ver)})
		}
		for _, x := range org.Exceptions {
			t := sfTime(x["Last_Seen__c"])
			if t.IsZero() {
				t = sfTime(x["CreatedDate"])
			}
			what := fmt.Sprintf("exception %s %s, status %s", sfStr(x["Name"]), sfStr(x["Kind__c"]), sfStr(x["Status__c"]))
			if r := sfStr(x["Resolution__c"]); r != "" {
				what += ", resolution " + r
			}
			if e := sfStr(x["Apply_Error__c"]); e != "" {
				what += ", apply error: " + e
			}
			ev = append(ev, TraceEvent{Time: t, Source: "Contact_Sync_Exception__c", Version: sfInt(x["Source_Version__c"]), What: what})
		}
	}
	slices.SortStableFunc(ev, func(a, b TraceEvent) int { return a.Time.Compare(b.Time) })
	return ev
}

func payloadVersion(data []byte) int64 {
	var d struct {
		Version int64 `json:"version"`
	}
	_ = json.Unmarshal(data, &d)
	return d.Version
}

func personName(r salesforce.Record) string {
	return strings.TrimSpace(sfStr(r["FirstName"]) + " " + sfStr(r["LastName"]))
}

func sfStr(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func sfTime(v any) time.Time {
	s, _ := v.(string)
	for _, layout := range []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05.000Z0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

func sfInt(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		if i == 0 {
			f, _ := n.Float64()
			i = int64(f)
		}
		return i
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	}
	return 0
}

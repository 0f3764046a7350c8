package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/producer"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/telemetry"
)

// Resolution is a steward's decision on a Contact_Sync_Exception__c record
// (its Resolution__c picklist, shipped in deployments/salesforce).
type Resolution string

// The Resolution__c values.
const (
	// LinkToExisting writes the incoming delta onto the existing contact
	// and re-keys it to the incoming external ID.
	LinkToExisting Resolution = "Link_To_Existing"
	// KeepBoth saves the incoming contact as a new one despite the rule.
	KeepBoth Resolution = "Keep_Both"
	// DiscardIncoming drops the delta.
	DiscardIncoming Resolution = "Discard_Incoming"
	// Reprocess runs the delta again under the current policy.
	Reprocess Resolution = "Reprocess"
)

// The Status__c values the apply-back reads and writes.
const (
	StatusResolved    = "Resolved"
	StatusApplied     = "Applied"
	StatusApplyFailed = "Apply_Failed"
)

// ApplyErrorMax is the length of Apply_Error__c (Text 255).
const ApplyErrorMax = 255

// Decision is a resolved exception record, read back from Salesforce.
type Decision struct {
	ID                 string // the exception record's Id
	Resolution         Resolution
	IncomingExternalID string
	ExistingContactID  string // Existing_Contact__c; "" when the contact was deleted (SetNull) or never known
	Payload            string // Payload__c: the held delta
	SourceVersion      int64
	LastModified       string // LastModifiedDate: a new decision on the record is a new one to apply
}

// Plan is what applying a Decision will do: the delta to write (nil for
// DiscardIncoming) or, when the decision cannot be applied, the reason a
// steward reads in Apply_Error__c.
type Plan struct {
	Decision Decision
	Delta    *delta.Delta
	Failed   string // non-empty: mark Apply_Failed with this reason, write nothing
}

// PlanApply checks a decision before anything is written. Every bad input
// ends in a Plan with Failed set, never an error that would stop the poll:
// an unknown resolution, a payload that no longer decodes (or was cut at
// the Payload__c limit), a payload for another external ID, and
// Link_To_Existing without an existing contact (deleted or merged away,
// which clears the lookup). Whether the contact has since received a newer
// delta is settled at write time by the Sync_Version__c guard.
func PlanApply(d Decision) Plan {
	p := Plan{Decision: d}
	switch d.Resolution {
	case LinkToExisting, KeepBoth, DiscardIncoming, Reprocess:
	case "":
		p.Failed = "no Resolution chosen: pick one of Link_To_Existing, Keep_Both, Discard_Incoming, Reprocess and set Status to Resolved again"
		return p
	default:
		p.Failed = fmt.Sprintf("unknown Resolution %q: pick one of Link_To_Existing, Keep_Both, Discard_Incoming, Reprocess", d.Resolution)
		return p
	}
	if d.Resolution == DiscardIncoming {
		return p
	}
	if strings.TrimSpace(d.Payload) == "" {
		p.Failed = "the record has no Payload (the held delta), so there is nothing to apply; choose Discard_Incoming or re-send the contact from the source"
		return p
	}
	if strings.HasSuffix(d.Payload, "…") {
		p.Failed = "the Payload was cut at the field's limit and cannot be applied; choose Discard_Incoming or re-send the contact from the source"
		return p
	}
	dl, err := delta.Decode([]byte(d.Payload))
	if err != nil {
		p.Failed = "the Payload no longer decodes as a contact delta (" + telemetry.MaskEmails(err.Error()) + "); choose Discard_Incoming or re-send the contact from the source"
		return p
	}
	if d.IncomingExternalID != "" && !strings.EqualFold(dl.ExternalID, d.IncomingExternalID) {
		p.Failed = fmt.Sprintf("the Payload is for external ID %q, not the record's Incoming External Id %q; it was edited by hand", dl.ExternalID, d.IncomingExternalID)
		return p
	}
	if d.Resolution == LinkToExisting && d.ExistingContactID == "" {
		p.Failed = "the existing contact is gone (deleted or merged away, so Existing Contact is empty); choose Keep_Both or Reprocess"
		return p
	}
	p.Delta = &dl
	return p
}

// applyError fits a reason into Apply_Error__c.
func applyError(reason string) string { return truncate(reason, ApplyErrorMax) }

// ApplySF is what applying resolutions needs from the Salesforce client.
type ApplySF interface {
	QueryAll(ctx context.Context, soql string) ([]salesforce.Record, error)
	UpdateCollection(ctx context.Context, sobject string, recs []salesforce.Record, o salesforce.WriteOptions) ([]salesforce.SaveResult, error)
	UpsertCollection(ctx context.Context, sobject, extIDField string, recs []salesforce.Record, o salesforce.WriteOptions) ([]salesforce.SaveResult, error)
}

// Applier applies resolved exception records back: one SOQL query per
// pass for Status__c = 'Resolved' with a Resolution__c, oldest
// LastModifiedDate first, each decision written as the upserter writes
// (Sync_Version__c included, so Salesforce's Sync_Version_Monotonic rule
// refuses to roll a contact back past a newer delta), then the record marked
// Applied or Apply_Failed with the reason.
type Applier struct {
	SF ApplySF
	// Object and ExternalIDField of the contact (defaults Contact,
	// External_Contact_ID__c); VersionField (default Sync_Version__c).
	Object, ExternalIDField, VersionField string
	// ExceptionObject (default Contact_Sync_Exception__c).
	ExceptionObject string
	// Now stamps Applied_At__c (default time.Now).
	Now func() time.Time
	// Publish sends a Reprocess delta back onto CONTACTS (the reconciler
	// passes its JetStream publish). Nil: Reprocess ends Apply_Failed.
	Publish func(ctx context.Context, m *nats.Msg) error
}

// ApplyStats is what one pass did.
type ApplyStats struct {
	Applied, Failed int
}

// applyBatch bounds one pass (one Collections call per kind of write).
const applyBatch = 200

func (a *Applier) defaults() {
	if a.Object == "" {
		a.Object = "Contact"
	}
	if a.ExternalIDField == "" {
		a.ExternalIDField = "External_Contact_ID__c"
	}
	if a.VersionField == "" {
		a.VersionField = "Sync_Version__c"
	}
	if a.ExceptionObject == "" {
		a.ExceptionObject = DefaultObject
	}
	if a.Now == nil {
		a.Now = time.Now
	}
}

// ResolvedSOQL is the one query of a pass.
func (a *Applier) ResolvedSOQL() string {
	a.defaults()
	return "SELECT Id, Resolution__c, Incoming_External_Id__c, Existing_Contact__c, Payload__c, Source_Version__c, LastModifiedDate FROM " +
		a.ExceptionObject + " WHERE Status__c = '" + StatusResolved + "' AND Resolution__c != null ORDER BY LastModifiedDate LIMIT " + strconv.Itoa(applyBatch)
}

// RunOnce applies what is resolved now.
func (a *Applier) RunOnce(ctx context.Context) (ApplyStats, error) {
	a.defaults()
	var st ApplyStats
	recs, err := a.SF.QueryAll(ctx, a.ResolvedSOQL())
	if err != nil {
		return st, fmt.Errorf("reconcile: read resolved exceptions: %w", err)
	}
	type mark struct{ id, reason string }
	var marks []mark
	for _, r := range recs {
		d := Decision{ID: str(r["Id"]), Resolution: Resolution(str(r["Resolution__c"])),
			IncomingExternalID: str(r["Incoming_External_Id__c"]), ExistingContactID: str(r["Existing_Contact__c"]),
			Payload: str(r["Payload__c"]), LastModified: str(r["LastModifiedDate"])}
		if v, ok := r["Source_Version__c"].(float64); ok {
			d.SourceVersion = int64(v)
		}
		p := PlanApply(d)
		reason := p.Failed
		if reason == "" {
			reason = a.write(ctx, p)
		}
		marks = append(marks, mark{d.ID, reason})
	}
	if len(marks) == 0 {
		return st, nil
	}
	now := a.Now().UTC().Format(lastSeenLayout)
	out := make([]salesforce.Record, len(marks))
	for i, m := range marks {
		status := StatusApplied
		if m.reason != "" {
			status = StatusApplyFailed
		}
		out[i] = salesforce.Record{"Id": m.id, "Status__c": status, "Applied_At__c": now, "Apply_Error__c": nilIfEmpty(applyError(m.reason))}
	}
	res, err := a.SF.UpdateCollection(ctx, a.ExceptionObject, out, salesforce.WriteOptions{})
	if err != nil {
		return st, fmt.Errorf("reconcile: mark resolved exceptions: %w", err)
	}
	for i, r := range res {
		switch {
		case !r.Success:
			// Left Resolved: the next pass tries again (writes are idempotent).
		case marks[i].reason == "":
			st.Applied++
		default:
			st.Failed++
		}
	}
	return st, nil
}

// write applies one plan and returns "" or the steward-readable reason.
func (a *Applier) write(ctx context.Context, p Plan) string {
	if p.Decision.Resolution == DiscardIncoming {
		return ""
	}
	if p.Decision.Resolution == Reprocess {
		return a.reprocess(ctx, p)
	}
	rec := salesforce.Record{}
	for k, v := range p.Delta.Fields {
		if !strings.EqualFold(k, "Id") && !strings.EqualFold(k, a.ExternalIDField) {
			rec[k] = v
		}
	}
	rec[a.VersionField] = p.Delta.Version
	var res []salesforce.SaveResult
	var err error
	switch p.Decision.Resolution {
	case LinkToExisting:
		rec["Id"] = p.Decision.ExistingContactID
		rec[a.ExternalIDField] = p.Delta.ExternalID
		res, err = a.SF.UpdateCollection(ctx, a.Object, []salesforce.Record{rec}, salesforce.WriteOptions{})
	case KeepBoth:
		rec[a.ExternalIDField] = p.Delta.ExternalID
		res, err = a.SF.UpsertCollection(ctx, a.Object, a.ExternalIDField, []salesforce.Record{rec},
			salesforce.WriteOptions{DuplicateRule: &salesforce.DuplicateRuleHeader{AllowSave: true}})
	}
	if err != nil {
		return "Salesforce refused the write: " + telemetry.Redact(err.Error())
	}
	if len(res) != 1 {
		return fmt.Sprintf("Salesforce answered %d results for one write", len(res))
	}
	if res[0].Success {
		return ""
	}
	e := salesforce.RecordError{StatusCode: salesforce.CodeUnknownError}
	if len(res[0].Errors) > 0 {
		e = res[0].Errors[0]
	}
	switch {
	case e.StatusCode == salesforce.CodeFieldCustomValidationException && slices.ContainsFunc(e.Fields, func(f string) bool { return strings.EqualFold(f, a.VersionField) }):
		return "the contact has since received a newer delta than this one (version " + strconv.FormatInt(p.Delta.Version, 10) + "); nothing was rolled back. Choose Discard_Incoming"
	case e.StatusCode == salesforce.CodeEntityIsDeleted || e.StatusCode == salesforce.CodeInvalidCrossReferenceKey || e.StatusCode == salesforce.CodeNotFound:
		return "the existing contact is gone (deleted or merged away); choose Keep_Both or Reprocess"
	}
	return e.StatusCode + ": " + telemetry.Redact(e.Message)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func str(v any) string { s, _ := v.(string); return s }

// applyLoop runs an Applier pass every ApplyInterval until ctx ends. A
// failed pass is logged and tried again at the next tick; records stay
// Resolved until a pass marks them, so nothing is dropped.
func (r *Reconciler) applyLoop(ctx context.Context, sf ApplySF) {
	defer r.wg.Done()
	a := &Applier{SF: sf, ExceptionObject: r.cfg.Object, Publish: func(ctx context.Context, m *nats.Msg) error {
		_, err := r.js.PublishMsg(ctx, m)
		return err
	}}
	t := time.NewTicker(r.cfg.ApplyInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		st, err := a.RunOnce(cctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Warn("applying resolved exceptions failed; trying again next interval", zap.String("error", telemetry.Redact(err.Error())))
		case st.Applied+st.Failed > 0:
			r.log.Info("resolved exceptions applied", zap.Int("applied", st.Applied), zap.Int("apply_failed", st.Failed))
		}
	}
}

// reprocess publishes the held delta again on its CONTACTS subject, so the
// upserter fleet runs it under the current policy (a held delta left no
// state, so it is not skipped as stale; a newer delta since makes it stale,
// as it should). The message ID names the exception record and its
// LastModifiedDate: a redelivered pass publishes once, a new decision again.
func (a *Applier) reprocess(ctx context.Context, p Plan) string {
	if a.Publish == nil {
		return "Reprocess needs the reconciler's JetStream connection; re-send the contact from the source, or choose another Resolution"
	}
	m, err := producer.Message(*p.Delta)
	if err != nil {
		return "the Payload cannot be sent again: " + telemetry.MaskEmails(err.Error())
	}
	m.Header.Set(jetstream.MsgIDHeader, "reprocess:"+p.Decision.ID+":"+p.Decision.LastModified)
	if err := a.Publish(ctx, m); err != nil {
		return "could not send the delta again (" + err.Error() + "); set Status to Resolved to retry"
	}
	return ""
}

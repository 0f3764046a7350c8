package conflict

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/worker"
)

// DefaultExternalIDField is the Contact field carrying the external ID.
const DefaultExternalIDField = "External_Contact_ID__c"

// SF is what the resolver needs from the Salesforce client.
type SF interface {
	QueryAll(ctx context.Context, soql string) ([]salesforce.Record, error)
	UpdateCollection(ctx context.Context, sobject string, recs []salesforce.Record, o salesforce.WriteOptions) ([]salesforce.SaveResult, error)
	UpsertCollection(ctx context.Context, sobject, extIDField string, recs []salesforce.Record, o salesforce.WriteOptions) ([]salesforce.SaveResult, error)
}

// Config configures a Resolver. The zero value is valid: strict policy,
// unlinked contacts adopted, External_Contact_ID__c on Contact.
type Config struct {
	// DefaultPolicy applies to segments without an override ("" = strict).
	DefaultPolicy Policy
	// Segments overrides the policy per segment. Keys are segment names; a
	// key also matches segments that differ only by '-' versus '_' (so the
	// keys ConfigFromEnv derives from SYNC_POLICY_<SEGMENT> work).
	Segments map[string]Policy
	// Env, when set, is consulted for SYNC_POLICY_<SEGMENT> overrides of
	// segments not in Segments (see PolicyFor).
	Env func(string) string
	// NoAdoptUnlinked turns adoption of unlinked contacts off
	// (SYNC_ADOPT_UNLINKED=false): they are held as Email_Conflict.
	NoAdoptUnlinked bool
	// ExternalIDField is the external ID field ("" = External_Contact_ID__c).
	ExternalIDField string
	// Object is the sObject ("" = Contact).
	Object string
	// Now stamps Event.SeenAt (nil = time.Now).
	Now func() time.Time
}

var apiName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

func (c Config) validate() error {
	if c.DefaultPolicy != "" && !c.DefaultPolicy.Valid() {
		return fmt.Errorf("DefaultPolicy: %w %q", ErrInvalidPolicy, c.DefaultPolicy)
	}
	for s, p := range c.Segments {
		if !p.Valid() {
			return fmt.Errorf("Segments[%q]: %w %q", s, ErrInvalidPolicy, p)
		}
	}
	if c.ExternalIDField != "" && !apiName.MatchString(c.ExternalIDField) {
		return fmt.Errorf("ExternalIDField: %q is not an API name", c.ExternalIDField)
	}
	if c.Object != "" && !apiName.MatchString(c.Object) {
		return fmt.Errorf("Object: %q is not an API name", c.Object)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.DefaultPolicy == "" {
		c.DefaultPolicy = Strict
	}
	if c.ExternalIDField == "" {
		c.ExternalIDField = DefaultExternalIDField
	}
	if c.Object == "" {
		c.Object = "Contact"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Refusal is one record of a batch upsert that Salesforce refused with
// DUPLICATES_DETECTED or DUPLICATE_EXTERNAL_ID.
type Refusal struct {
	Delta delta.Delta            // the delta as sent (Fields are what was written)
	Err   salesforce.RecordError // the per-record error
	Raw   json.RawMessage        // the delta's original JSON, if at hand (else Delta is marshalled)
}

// Verdict is the resolver's verdict on one refusal, in input order. Its
// Outcome is one of worker.Adopted (updated by Id and linked to the external
// ID), worker.Rekeyed (updated by Id and re-keyed, email policy),
// worker.Created (saved anyway with allowSave=true, external-id policy),
// worker.Held (nothing written; Event says why), worker.DeadLettered (the
// policy's write failed permanently; Err says why) or worker.Retried (a
// transient failure; try the record again later).
type Verdict struct {
	Outcome worker.Outcome
	ID      string // the contact written (adopted, rekeyed, created)
	Event   *Event // exception to publish on CONFLICTS, or nil
	Err     error  // DeadLettered: *salesforce.APIError with Salesforce's error; Retried: the cause
}

// Resolver settles duplicate-rule refusals by policy, with one SOQL query and
// at most one update and one upsert collections call per batch.
type Resolver struct {
	sf  SF
	cfg Config
	log *zap.Logger
}

// NewResolver returns a Resolver. A bad Config is reported by the first
// Resolve; use Validate (or ConfigFromEnv) to fail at startup.
func NewResolver(sf SF, cfg Config, log *zap.Logger) *Resolver {
	if log == nil {
		log = zap.NewNop()
	}
	return &Resolver{sf: sf, cfg: cfg.withDefaults(), log: log}
}

// Validate reports the first invalid Config field.
func (c Config) Validate() error { return c.validate() }

// PolicyOf returns the policy in force for segment.
func (r *Resolver) PolicyOf(segment string) (Policy, error) {
	if err := r.cfg.validate(); err != nil {
		return "", err
	}
	if p, ok := r.cfg.Segments[segment]; ok {
		return p, nil
	}
	if p, ok := r.cfg.Segments[strings.ReplaceAll(segment, "-", "_")]; ok {
		return p, nil
	}
	if r.cfg.Env != nil {
		return PolicyFor(segment, r.cfg.DefaultPolicy, r.cfg.Env)
	}
	return r.cfg.DefaultPolicy, nil
}

// pending is the working state of one refusal.
type pending struct {
	ref      Refusal
	segment  string
	policy   Policy
	email    string
	existing []Existing
	dec      Decision
	event    *Event
}

// Resolve decides every refusal of a batch, each under its segment's policy,
// and performs the writes the decisions call for: one lookup query (split
// only by the URI limit), one update and one save-anyway call for the whole
// batch, whatever its mix of segments. It returns one Outcome per refusal, in
// order. An error means a whole call failed before anything was settled; the
// caller retries the batch (every write is idempotent).
func (r *Resolver) Resolve(ctx context.Context, refusals []Refusal) ([]Verdict, error) {
	if len(refusals) == 0 {
		return nil, nil
	}
	ps := make([]*pending, len(refusals))
	var emails []string
	seen := map[string]bool{}
	for i, ref := range refusals {
		policy, err := r.PolicyOf(ref.Delta.Segment)
		if err != nil {
			return nil, err
		}
		p := &pending{ref: ref, segment: ref.Delta.Segment, policy: policy, email: emailOf(ref.Delta)}
		ps[i] = p
		if ref.Err.StatusCode != salesforce.CodeDuplicateExternalID && p.email != "" && !seen[p.email] {
			seen[p.email] = true
			emails = append(emails, p.email)
		}
	}
	byEmail, err := r.lookup(ctx, emails)
	if err != nil {
		return nil, err
	}

	outs := make([]Verdict, len(refusals))
	targeted := map[string]bool{} // contact Ids written by this batch
	keys := map[string]bool{}     // external IDs written by this batch
	var updates, saves []int
	for i, p := range ps {
		x := p.ref.Delta.ExternalID
		if keys[strings.ToLower(x)] {
			outs[i] = Verdict{Outcome: worker.Retried, Err: fmt.Errorf("external ID written twice in one batch")}
			continue
		}
		p.existing, p.dec = r.decide(p.policy, p, byEmail[p.email])
		switch p.dec.Outcome {
		case worker.Adopted, worker.Rekeyed:
			if targeted[p.dec.TargetID] {
				outs[i] = Verdict{Outcome: worker.Retried, Err: fmt.Errorf("contact %s written twice in one batch", p.dec.TargetID)}
				continue
			}
			targeted[p.dec.TargetID] = true
			keys[strings.ToLower(x)] = true
			updates = append(updates, i)
			// Later refusals of this batch with the same email see the
			// contact as it will be: linked to x.
			for j := range byEmail[p.email] {
				if byEmail[p.email][j].ID == p.dec.TargetID {
					byEmail[p.email][j].ExternalID = x
				}
			}
		case worker.Created:
			keys[strings.ToLower(x)] = true
			saves = append(saves, i)
		default:
			outs[i] = Verdict{Outcome: worker.Held}
		}
		if p.dec.Kind != "" {
			p.event = r.event(p.segment, p.policy, p.dec.Kind, p)
		}
		if p.dec.Outcome == worker.Held {
			outs[i].Event = p.event
		}
		r.log.Debug("conflict decided", zap.String("segment", p.segment), zap.String("external_id", x),
			zap.String("policy", string(p.policy)), zap.Stringer("outcome", p.dec.Outcome),
			zap.String("kind", string(p.dec.Kind)), zap.Int("existing", len(p.existing)))
	}

	if len(updates) > 0 {
		recs := make([]salesforce.Record, len(updates))
		for k, i := range updates {
			recs[k] = r.record(ps[i].ref.Delta, salesforce.Record{"Id": ps[i].dec.TargetID})
		}
		res, err := r.sf.UpdateCollection(ctx, r.cfg.Object, recs, salesforce.WriteOptions{})
		if err == nil && len(res) != len(recs) {
			err = fmt.Errorf("conflict: update returned %d results for %d records", len(res), len(recs))
		}
		if err != nil {
			return nil, fmt.Errorf("conflict: adopt/re-key update: %w", err)
		}
		for k, i := range updates {
			outs[i] = r.settleUpdate(ps[i], res[k])
		}
	}
	if len(saves) > 0 {
		recs := make([]salesforce.Record, len(saves))
		for k, i := range saves {
			recs[k] = r.record(ps[i].ref.Delta, salesforce.Record{})
		}
		res, err := r.sf.UpsertCollection(ctx, r.cfg.Object, r.cfg.ExternalIDField, recs,
			salesforce.WriteOptions{DuplicateRule: &salesforce.DuplicateRuleHeader{AllowSave: true}})
		if err == nil && len(res) != len(recs) {
			err = fmt.Errorf("conflict: save-anyway upsert returned %d results for %d records", len(res), len(recs))
		}
		if err != nil {
			err = fmt.Errorf("conflict: save-anyway upsert: %w", err)
			if len(updates) == 0 {
				return nil, err
			}
			// The updates are done; keep their outcomes and retry the rest.
			for _, i := range saves {
				outs[i] = Verdict{Outcome: worker.Retried, Err: err}
			}
			return outs, nil
		}
		for k, i := range saves {
			outs[i] = r.settleSave(ps[i], res[k])
		}
	}
	return outs, nil
}

// decide gathers the contacts behind one refusal and applies Decide.
func (r *Resolver) decide(policy Policy, p *pending, found []Existing) ([]Existing, Decision) {
	x := p.ref.Delta.ExternalID
	dr := p.ref.Err.DuplicateResult
	if p.ref.Err.StatusCode == salesforce.CodeDuplicateExternalID {
		var ex []Existing
		for _, id := range externalIDMatches(p.ref.Err.Message) {
			ex = append(ex, Existing{ID: id, ExternalID: x})
		}
		return ex, Decision{Outcome: worker.Held, Kind: KindMultipleExternalIDMatches}
	}
	existing := slices.Clone(found)
	var bare []Existing // matched by the rule, details unknown
	if dr != nil {
		for _, mr := range dr.MatchResults {
			for _, m := range mr.MatchRecords {
				id := str(m.Record["Id"])
				if id == "" || slices.ContainsFunc(existing, func(e Existing) bool { return sameID(e.ID, id) }) {
					continue
				}
				if _, ok := m.Record["Email"]; ok && strings.EqualFold(str(m.Record["Email"]), p.email) {
					existing = append(existing, Existing{ID: id, Email: p.email, ExternalID: str(m.Record[r.cfg.ExternalIDField])})
				} else if !slices.ContainsFunc(bare, func(e Existing) bool { return sameID(e.ID, id) }) {
					bare = append(bare, Existing{ID: id})
				}
			}
		}
	}
	slices.SortFunc(existing, func(a, b Existing) int { return strings.Compare(a.ID, b.ID) })
	if len(existing) == 0 && len(bare) > 0 {
		// The rule matched contacts that do not carry this email (or the
		// email is not in the delta): nothing safe to adopt.
		slices.SortFunc(bare, func(a, b Existing) int { return strings.Compare(a.ID, b.ID) })
		return bare, Decision{Outcome: worker.Held, Kind: KindEmailConflict}
	}
	blocked := dr != nil && !dr.AllowSave
	return existing, Decide(policy, !r.cfg.NoAdoptUnlinked, x, blocked, existing)
}

func (r *Resolver) settleUpdate(p *pending, res salesforce.SaveResult) Verdict {
	if res.Success {
		a := worker.Adopted
		if p.dec.Outcome == worker.Rekeyed {
			a = worker.Rekeyed
		}
		return Verdict{Outcome: a, ID: p.dec.TargetID, Event: p.event}
	}
	e := firstError(res)
	switch {
	case e.StatusCode == salesforce.CodeDuplicateValue:
		// The external ID already sits on another contact: the email belongs
		// to one contact and the external ID to another. A steward decides.
		ex := slices.Clone(p.existing)
		if id := duplicateValueID(e.Message); id != "" && !slices.ContainsFunc(ex, func(c Existing) bool { return sameID(c.ID, id) }) {
			ex = append(ex, Existing{ID: id, ExternalID: p.ref.Delta.ExternalID})
		}
		p.existing = ex
		return Verdict{Outcome: worker.Held, Event: r.event(p.segment, p.policy, KindEmailConflict, p)}
	case e.StatusCode == salesforce.CodeDuplicatesDetected:
		// The rule also covers edits by this user (no exemption).
		return Verdict{Outcome: worker.Held, Event: r.event(p.segment, p.policy, KindBlockedByRule, p)}
	case e.StatusCode == salesforce.CodeEntityIsDeleted || transient(e.StatusCode):
		return Verdict{Outcome: worker.Retried, Err: recordErr(e)}
	}
	return Verdict{Outcome: worker.DeadLettered, Err: recordErr(e)}
}

func (r *Resolver) settleSave(p *pending, res salesforce.SaveResult) Verdict {
	if res.Success {
		return Verdict{Outcome: worker.Created, ID: res.ID, Event: p.event}
	}
	e := firstError(res)
	switch {
	case e.StatusCode == salesforce.CodeDuplicatesDetected:
		// allowSave cannot override a Block action.
		return Verdict{Outcome: worker.Held, Event: r.event(p.segment, p.policy, KindBlockedByRule, p)}
	case transient(e.StatusCode):
		return Verdict{Outcome: worker.Retried, Err: recordErr(e)}
	}
	return Verdict{Outcome: worker.DeadLettered, Err: recordErr(e)}
}

// lookup finds the contacts carrying the given (lower-cased) emails.
func (r *Resolver) lookup(ctx context.Context, emails []string) (map[string][]Existing, error) {
	by := map[string][]Existing{}
	if len(emails) == 0 {
		return by, nil
	}
	slices.Sort(emails)
	prefix := "SELECT Id, Email, " + r.cfg.ExternalIDField + " FROM " + r.cfg.Object + " WHERE"
	for _, q := range salesforce.InQueries(prefix, "Email", emails, "", 0) {
		recs, err := r.sf.QueryAll(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("conflict: email lookup: %w", err)
		}
		for _, rec := range recs {
			e := strings.ToLower(strings.TrimSpace(str(rec["Email"])))
			id := str(rec["Id"])
			if e == "" || id == "" || slices.ContainsFunc(by[e], func(c Existing) bool { return sameID(c.ID, id) }) {
				continue
			}
			by[e] = append(by[e], Existing{ID: id, Email: e, ExternalID: str(rec[r.cfg.ExternalIDField])})
		}
	}
	return by, nil
}

// record is the write of a delta: its fields, the external ID set to the
// incoming one, plus base (the Id for updates).
func (r *Resolver) record(d delta.Delta, base salesforce.Record) salesforce.Record {
	for k, v := range d.Fields {
		if strings.EqualFold(k, "Id") || strings.EqualFold(k, r.cfg.ExternalIDField) {
			continue
		}
		base[k] = v
	}
	base[r.cfg.ExternalIDField] = d.ExternalID
	return base
}

func (r *Resolver) event(segment string, policy Policy, kind Kind, p *pending) *Event {
	raw := p.ref.Raw
	if len(raw) == 0 {
		if b, err := json.Marshal(p.ref.Delta); err == nil {
			raw = b
		}
	}
	ev := &Event{
		Kind:               kind,
		Policy:             policy,
		Segment:            segment,
		IncomingExternalID: p.ref.Delta.ExternalID,
		Email:              p.email,
		Delta:              raw,
		SourceVersion:      p.ref.Delta.Version,
		SeenAt:             r.cfg.Now().UTC(),
	}
	for _, c := range p.existing {
		ev.ExistingIDs = append(ev.ExistingIDs, c.ID)
		ev.ExistingExternalIDs = append(ev.ExistingExternalIDs, c.ExternalID)
	}
	return ev
}

func emailOf(d delta.Delta) string {
	for k, v := range d.Fields {
		if strings.EqualFold(k, "Email") {
			return strings.ToLower(strings.TrimSpace(str(v)))
		}
	}
	return ""
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// sameID compares Salesforce Ids, accepting the 15- and 18-character forms.
func sameID(a, b string) bool {
	if len(a) >= 15 && len(b) >= 15 && len(a) != len(b) {
		return a[:15] == b[:15]
	}
	return a == b
}

func firstError(res salesforce.SaveResult) salesforce.RecordError {
	if len(res.Errors) == 0 {
		return salesforce.RecordError{StatusCode: salesforce.CodeUnknownError, Message: "record failed without an error"}
	}
	return res.Errors[0]
}

func transient(code string) bool {
	switch salesforce.Classify(code, 0) {
	case salesforce.ClassTransient, salesforce.ClassSession, salesforce.ClassLimit:
		return true
	}
	return false
}

// recordErr turns a per-record error into an *salesforce.APIError, so callers
// read its ErrorCode with errors.As.
func recordErr(e salesforce.RecordError) error {
	return &salesforce.APIError{ErrorCode: e.StatusCode, Message: e.Message, Fields: e.Fields, DuplicateResult: e.DuplicateResult}
}

var (
	idList  = regexp.MustCompile(`\[([^\]]*)\]`)
	sfID    = regexp.MustCompile(`^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$`)
	dupOnID = regexp.MustCompile(`record with id: ([a-zA-Z0-9]{15,18})`)
)

// externalIDMatches reads the Ids out of a DUPLICATE_EXTERNAL_ID message:
// "<Label>: more than one record found for external id field: [<id1>, <id2>]".
func externalIDMatches(msg string) []string {
	m := idList.FindStringSubmatch(msg)
	if m == nil {
		return nil
	}
	var ids []string
	for _, s := range strings.Split(m[1], ",") {
		if s = strings.TrimSpace(s); sfID.MatchString(s) && !slices.Contains(ids, s) {
			ids = append(ids, s)
		}
	}
	slices.Sort(ids)
	return ids
}

// duplicateValueID reads the Id out of a DUPLICATE_VALUE message:
// "duplicate value found: <Field> duplicates value on record with id: <id>".
func duplicateValueID(msg string) string {
	if m := dupOnID.FindStringSubmatch(msg); m != nil {
		return ID18(m[1])
	}
	return ""
}

// ID18 returns the 18-character, case-insensitive form of a 15-character
// Salesforce Id (other input is returned unchanged): each 5-character chunk
// adds one character encoding which of its letters are upper-case.
func ID18(id string) string {
	if len(id) != 15 {
		return id
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	suffix := make([]byte, 3)
	for chunk := range 3 {
		bits := 0
		for i := range 5 {
			if c := id[chunk*5+i]; c >= 'A' && c <= 'Z' {
				bits |= 1 << i
			}
		}
		suffix[chunk] = alphabet[bits]
	}
	return id + string(suffix)
}

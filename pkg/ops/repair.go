package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/report"
)

// RepairOptions configures a repair (`syncctl reconcile --repair`).
type RepairOptions struct {
	Ticket string // required; names the record of what it re-drove and every Nats-Msg-Id
	DryRun bool   // list what would be re-driven; publish and record nothing
	// Report is the input of report 3, as `report --daily` takes it (the
	// org, the source, the report settings, ShowPII for the emails listed).
	// A file source loaded with report.LoadFileDeltas lets contacts the
	// fleet never applied be published from their source row.
	Report DailyOptions
	// Progress, when set, is told each phase as it starts and, while
	// publishing, about every ProgressEvery (default 1s).
	Progress      func(RepairResult)
	ProgressEvery time.Duration
}

// Outcomes of one contact of a repair.
const (
	RepairRedriven     = "redriven"
	RepairWouldRedrive = "would_redrive"
	RepairSkipped      = "skipped"
)

// Reasons a contact of report 3 is not re-driven (RepairItem.Reason). All
// but SkipAlreadyRedriven make the repair incomplete (exit 3).
const (
	// SkipUnknownToSource: in Salesforce but not in the source; nothing
	// holds a delta for it.
	SkipUnknownToSource = "unknown_to_source"
	// SkipNotInStream: the applied delta is no longer in CONTACTS
	// (retention) and the source has no row at least as new.
	SkipNotInStream = "applied_delta_not_in_stream"
	// SkipNoDeltaFields: never applied, and the source gives external IDs
	// only (PostgreSQL), no fields to publish.
	SkipNoDeltaFields = "source_has_no_delta_fields"
	// SkipDeleted: the fleet applied a delete; only a newer delta from the
	// source brings the contact back.
	SkipDeleted = "deleted_by_the_fleet"
	// SkipNotApplied: never applied and no source row to publish.
	SkipNotApplied = "never_applied"
	// SkipAlreadyRedriven: re-driven by this ticket in an earlier,
	// interrupted run.
	SkipAlreadyRedriven = "already_redriven_by_ticket"
)

// RepairItem is one contact of report 3 and what the repair did with it.
type RepairItem struct {
	Problem      string `json:"problem"` // report 3's: missing_from_salesforce, drift, unknown_to_source
	ExternalID   string `json:"external_id"`
	SalesforceID string `json:"salesforce_id,omitempty"`
	Email        string `json:"email,omitempty"` // masked unless ShowPII
	Outcome      string `json:"outcome"`         // redriven, would_redrive, skipped
	// From is where the re-driven delta came from: CONTACTS:<seq> (the
	// applied delta) or "source".
	From    string `json:"from,omitempty"`
	Version int64  `json:"version,omitzero"`
	// Folded counts the deltas of CONTACTS history (up to the applied
	// version) whose fields the re-driven delta carries.
	Folded    int    `json:"folded,omitempty"`
	Subject   string `json:"subject,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"` // CONTACTS already held this ticket's copy
	Reason    string `json:"reason,omitempty"`    // Skip… code
	Detail    string `json:"detail,omitempty"`
}

// RepairRecord is what a ticket leaves in the contact_state bucket under
// repair.<ticket> once its run finished; a rerun of the ticket does nothing.
type RepairRecord struct {
	Ticket   string    `json:"ticket"`
	Redriven int       `json:"redriven"`
	Finished time.Time `json:"finished"`
}

// RepairResult is a repair's outcome (and its progress, by Phase).
type RepairResult struct {
	Ticket       string         `json:"ticket"`
	DryRun       bool           `json:"dry_run,omitempty"`
	Phase        string         `json:"phase"`
	Source       string         `json:"source,omitempty"`
	Gaps         int            `json:"gaps"` // rows of report 3
	Redriven     int            `json:"redriven"`
	WouldRedrive int            `json:"would_redrive,omitempty"`
	Duplicates   int            `json:"duplicates,omitempty"` // re-driven, but CONTACTS already held the copy
	Skipped      map[string]int `json:"skipped"`              // by reason
	Scanned      int            `json:"scanned"`              // CONTACTS messages read
	Items        []RepairItem   `json:"items"`
	// AlreadyDone is set when the ticket had finished a repair before:
	// nothing was read, published or recorded.
	AlreadyDone *RepairRecord `json:"already_done,omitempty"`
	APICalls    int64         `json:"api_calls"`
	Calls       []report.Call `json:"calls,omitempty"`
	Elapsed     time.Duration `json:"elapsed_ns"`
}

// Incomplete counts the contacts that could not be re-driven.
func (r RepairResult) Incomplete() int {
	n := 0
	for reason, c := range r.Skipped {
		if reason != SkipAlreadyRedriven {
			n += c
		}
	}
	return n
}

// ErrRepairIncomplete is returned (wrapped) by Repair when some contacts of
// report 3 could not be re-driven (exit 3); their items say why.
var ErrRepairIncomplete = fmt.Errorf("%w: some contacts could not be re-driven", cli.ErrIncomplete)

func repairRecordKey(ticket string) string       { return "repair." + ticket }
func repairContactKey(ticket, key string) string { return "repair." + ticket + "." + key }
func repairMsgID(ticket, key string, v int64) string {
	return "repair:" + ticket + ":" + key + ":" + strconv.FormatInt(v, 10)
}

// Repair re-drives the contacts of report 3 (the same computation as
// DailyReport) through the upserters:
//
//   - missing from Salesforce, or drifted (edited by hand), and applied
//     per contact state: the delta at the applied version is read from
//     CONTACTS (one filtered scan for all of them) and republished to its
//     original subject with bus.HeaderRepairTicket, which makes the
//     upserter write it although its version equals the applied one. Its
//     fields are those of the contact's history up to that version
//     (newest value of each field since the last delete, dead-lettered
//     deltas left out), as the fleet's writes left the contact. A newer
//     delta meanwhile wins: the repair's version is then older and stays
//     stale, so a repair never rolls a contact back.
//   - in the source but never applied: the source row, when the source
//     gives deltas (a file loaded with report.LoadFileDeltas).
//   - anything else is listed, skipped with a reason (SkipUnknownToSource,
//     SkipNotInStream, …), and the error wraps ErrRepairIncomplete.
//
// Each publish has Nats-Msg-Id repair:<ticket>:<key>:<version> and is
// recorded under repair.<ticket>.<key> in the contact_state bucket; a run
// that ends records repair.<ticket>, after which the same ticket publishes
// nothing (AlreadyDone). An interrupted run resumes: the contacts it
// recorded are skipped.
func (o *Ops) Repair(ctx context.Context, opts RepairOptions) (RepairResult, error) {
	r := &repairRun{o: o, opts: opts, start: o.now()}
	r.res = RepairResult{Ticket: opts.Ticket, DryRun: opts.DryRun, Skipped: map[string]int{}, Items: []RepairItem{}}
	if err := checkTicket(opts.Ticket); err != nil {
		return r.res, err
	}
	if r.opts.ProgressEvery <= 0 {
		r.opts.ProgressEvery = time.Second
	}
	r.lastRep = r.start
	err := r.run(ctx)
	r.progress("done")
	o.log.Info("repair finished", zap.String("ticket", opts.Ticket), zap.Int("redriven", r.res.Redriven),
		zap.Int("would_redrive", r.res.WouldRedrive), zap.Int("incomplete", r.res.Incomplete()), zap.Bool("dry_run", opts.DryRun), zap.Error(err))
	if err == nil && r.res.Incomplete() > 0 {
		err = fmt.Errorf("%w (%d of %d)", ErrRepairIncomplete, r.res.Incomplete(), r.res.Gaps)
	}
	return r.res, err
}

type repairRun struct {
	o       *Ops
	opts    RepairOptions
	res     RepairResult
	start   time.Time
	lastRep time.Time
	kv      jetstream.KeyValue
}

// repairContact is one contact to re-drive.
type repairContact struct {
	item  int // index in res.Items
	key   string
	state storedState
	src   *delta.Delta // the source's row, if the source gives one
	// the delta to publish
	msg *nats.Msg
	d   delta.Delta
}

func (r *repairRun) progress(phase string) {
	r.res.Phase = phase
	r.res.Elapsed = r.o.now().Sub(r.start)
	if r.opts.Progress != nil {
		r.opts.Progress(r.res)
	}
	r.lastRep = r.o.now()
}

func (r *repairRun) tick() {
	if r.opts.Progress != nil && r.o.now().Sub(r.lastRep) >= r.opts.ProgressEvery {
		r.progress(r.res.Phase)
	}
}

func (r *repairRun) skip(it *RepairItem, reason, detail string) {
	it.Outcome, it.Reason, it.Detail = RepairSkipped, reason, detail
	r.res.Skipped[reason]++
}

func (r *repairRun) run(ctx context.Context) error {
	kv, err := r.o.js.KeyValue(ctx, bus.BucketState)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bus.BucketState, err)
	}
	r.kv = kv
	if rec, err := r.record(ctx); err != nil || rec != nil {
		r.res.AlreadyDone = rec
		return err
	}

	r.progress("report")
	rep, dls, err := r.o.dailyReport(ctx, r.opts.Report)
	if err != nil {
		return err
	}
	r.res.Source, r.res.Gaps, r.res.Calls, r.res.APICalls = rep.Source, len(rep.Gaps), rep.Calls, rep.TotalCalls()
	src := r.opts.Report.Source
	srcDeltas := map[string]delta.Delta{}
	if src != nil {
		for _, d := range src.Deltas {
			srcDeltas[delta.ContactKey(d.ExternalID)] = d
		}
	}

	var todo []*repairContact
	seen := map[string]bool{}
	for _, g := range rep.Gaps {
		it := RepairItem{Problem: g.Problem, SalesforceID: g.SalesforceID, Email: g.Email, ExternalID: g.SourceExternalID}
		r.res.Items = append(r.res.Items, it)
		p := &r.res.Items[len(r.res.Items)-1]
		if g.Problem == report.GapUnknown {
			p.ExternalID = g.SFExternalID
			r.skip(p, SkipUnknownToSource, "in Salesforce but not in the source, so nothing holds a delta for it: add it to the source, or delete the contact in Salesforce")
			continue
		}
		key := delta.ContactKey(g.SourceExternalID)
		if g.SFExternalID != "" {
			p.ExternalID = g.SFExternalID // the raw spelling (state keys fold case)
		}
		if seen[key] {
			// Missing and drifted at once (its external ID edited by
			// hand): one re-drive serves both rows.
			r.res.Items = r.res.Items[:len(r.res.Items)-1]
			continue
		}
		seen[key] = true
		c := &repairContact{item: len(r.res.Items) - 1, key: key}
		if d, ok := srcDeltas[key]; ok {
			c.src = &d
		}
		todo = append(todo, c)
	}

	r.progress("state")
	keys := make([]string, len(todo))
	for i, c := range todo {
		keys[i] = c.key
	}
	states, err := readStates(ctx, r.o.js, keys)
	if err != nil {
		return err
	}
	done, err := r.recorded(ctx)
	if err != nil {
		return err
	}
	var fromStream []*repairContact
	var ready []*repairContact
	for _, c := range todo {
		it := &r.res.Items[c.item]
		c.state = states[c.key]
		st := c.state
		switch {
		case done[c.key]:
			r.skip(it, SkipAlreadyRedriven, "re-driven by this ticket in an earlier run that did not finish")
		case st.Version > 0 && !st.Deleted:
			fromStream = append(fromStream, c)
		case st.Deleted && c.src != nil && c.src.Version > st.Version:
			if err := r.fromSource(c); err != nil {
				return err
			}
			ready = append(ready, c)
		case st.Deleted:
			r.skip(it, SkipDeleted, fmt.Sprintf("the fleet applied a delete at version %d; only a newer delta from the source brings the contact back", st.Version))
		case c.src != nil:
			if err := r.fromSource(c); err != nil {
				return err
			}
			ready = append(ready, c)
		case src != nil && src.Deltas == nil:
			r.skip(it, SkipNoDeltaFields, fmt.Sprintf("never applied by the fleet, and the source (%s) gives external IDs only, no fields to publish: publish it from the source (producer poll, or backfill --from-file)", src.Name))
		default:
			r.skip(it, SkipNotApplied, "never applied by the fleet and no source row to publish")
		}
	}

	r.progress("scan")
	if err := r.fromHistory(ctx, fromStream, dls); err != nil {
		return err
	}
	for _, c := range fromStream {
		if c.msg != nil {
			ready = append(ready, c)
		}
	}
	slices.SortFunc(ready, func(a, b *repairContact) int { return a.item - b.item })

	r.progress("publish")
	if err := r.publish(ctx, ready); err != nil {
		return err
	}
	if r.opts.DryRun || len(done)+r.res.Redriven == 0 {
		return nil
	}
	rec := RepairRecord{Ticket: r.opts.Ticket, Redriven: len(done) + r.res.Redriven, Finished: r.o.now().UTC()}
	data, _ := json.Marshal(rec)
	if _, err := r.kv.Put(ctx, repairRecordKey(r.opts.Ticket), data); err != nil {
		return fmt.Errorf("record ticket %s (%s in bucket %s): %w", r.opts.Ticket, repairRecordKey(r.opts.Ticket), bus.BucketState, err)
	}
	return nil
}

// record returns the ticket's record when it finished a repair before.
func (r *repairRun) record(ctx context.Context) (*RepairRecord, error) {
	e, err := r.kv.Get(ctx, repairRecordKey(r.opts.Ticket))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ticket %s (%s in bucket %s): %w", r.opts.Ticket, repairRecordKey(r.opts.Ticket), bus.BucketState, err)
	}
	var rec RepairRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, fmt.Errorf("ticket %s: record %s: %w", r.opts.Ticket, repairRecordKey(r.opts.Ticket), err)
	}
	return &rec, nil
}

// recorded returns the contact keys this ticket published in an earlier
// run (one watch of repair.<ticket>.>).
func (r *repairRun) recorded(ctx context.Context) (map[string]bool, error) {
	prefix := repairContactKey(r.opts.Ticket, "")
	w, err := r.kv.Watch(ctx, prefix+">", jetstream.IgnoreDeletes(), jetstream.MetaOnly())
	if err != nil {
		return nil, fmt.Errorf("read what ticket %s re-drove: %w", r.opts.Ticket, err)
	}
	defer func() { _ = w.Stop() }()
	out := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e := <-w.Updates():
			if e == nil {
				return out, nil
			}
			out[e.Key()[len(prefix):]] = true
		}
	}
}

// fromSource makes the contact's source row the delta to publish.
func (r *repairRun) fromSource(c *repairContact) error {
	d := *c.src
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode the source's delta of %s: %w", d.ExternalID, err)
	}
	m := nats.NewMsg(d.Subject())
	m.Data = data
	m.Header.Set(delta.HeaderExternalID, d.ExternalID)
	c.msg, c.d = m, d
	it := &r.res.Items[c.item]
	it.ExternalID, it.From, it.Version, it.Subject = d.ExternalID, "source", d.Version, m.Subject
	return nil
}

// fromHistory finds each contact's applied delta in CONTACTS (one scan
// filtered on their subjects) and folds the history up to it.
func (r *repairRun) fromHistory(ctx context.Context, cs []*repairContact, dls []DeadLetter) error {
	if len(cs) == 0 {
		return nil
	}
	dead := map[uint64]bool{}
	for _, dl := range dls {
		if dl.OrigSeq > 0 {
			dead[dl.OrigSeq] = true
		}
	}
	type entry struct {
		rec record
		d   delta.Delta
	}
	hist := map[string][]entry{}
	byKey := map[string]*repairContact{}
	for _, c := range cs {
		byKey[c.key] = c
	}
	err := scanContacts(ctx, r.o.js, slices.Sorted(maps.Keys(byKey)), func(rec record) error {
		r.res.Scanned++
		r.tick()
		d, err := delta.Decode(rec.Data)
		if err != nil || dead[rec.Seq] {
			return nil // never applied
		}
		k := delta.ContactKey(d.ExternalID)
		if byKey[k] != nil {
			hist[k] = append(hist[k], entry{rec, d})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range cs {
		it := &r.res.Items[c.item]
		h := hist[c.key]
		// By version; of one version's copies (replays, backfills,
		// earlier repairs carry Cs-Replay-Of) the original first, and
		// only one is kept.
		copied := func(e entry) int64 {
			if e.rec.Header.Get(HeaderReplayOf) != "" {
				return 1
			}
			return 0
		}
		slices.SortStableFunc(h, func(a, b entry) int {
			if a.d.Version != b.d.Version {
				return cmpInt64(a.d.Version, b.d.Version)
			}
			if c := cmpInt64(copied(a), copied(b)); c != 0 {
				return c
			}
			return cmpInt64(int64(a.rec.Seq), int64(b.rec.Seq))
		})
		h = slices.CompactFunc(h, func(a, b entry) bool { return a.d.Version == b.d.Version })
		applied := -1
		fields := map[string]any{}
		folded := 0
		for i, e := range h {
			if e.d.Version > c.state.Version {
				break
			}
			if e.d.IsDelete() {
				clear(fields)
				folded = 0
				continue
			}
			maps.Copy(fields, e.d.Fields)
			folded++
			if e.d.Version == c.state.Version {
				applied = i
			}
		}
		if applied < 0 {
			if c.src != nil && c.src.Version >= c.state.Version {
				if err := r.fromSource(c); err != nil {
					return err
				}
				it.Detail = fmt.Sprintf("the applied delta (version %d) is no longer in CONTACTS; published from the source", c.state.Version)
				continue
			}
			r.skip(it, SkipNotInStream, fmt.Sprintf("the applied delta (version %d) is no longer in CONTACTS (retention): re-drive it from the source (--source FILE, or backfill --from-file)", c.state.Version))
			continue
		}
		e := h[applied]
		d := e.d
		m := nats.NewMsg(bus.OriginalSubject(e.rec.Subject))
		m.Data = e.rec.Data
		if len(fields) != len(d.Fields) {
			d.Fields = fields
			data, err := json.Marshal(d)
			if err != nil {
				return fmt.Errorf("re-encode the delta of %s at version %d: %w", d.ExternalID, d.Version, err)
			}
			m.Data = data
		}
		for k, vs := range e.rec.Header {
			if !isBookkeeping(k) {
				m.Header[k] = slices.Clone(vs)
			}
		}
		m.Header.Set(delta.HeaderExternalID, d.ExternalID)
		m.Header.Set(HeaderReplayOf, bus.StreamContacts+":"+strconv.FormatUint(e.rec.Seq, 10))
		c.msg, c.d = m, d
		it.ExternalID = d.ExternalID
		it.From, it.Version, it.Subject, it.Folded = bus.StreamContacts+":"+strconv.FormatUint(e.rec.Seq, 10), d.Version, m.Subject, folded
	}
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// publish sends each contact's delta with the repair header and records it
// under the ticket.
func (r *repairRun) publish(ctx context.Context, cs []*repairContact) error {
	type sent struct {
		c *repairContact
		f jetstream.PubAckFuture
	}
	var pending []sent
	flush := func() error {
		for _, p := range pending {
			it := &r.res.Items[p.c.item]
			var ack *jetstream.PubAck
			select {
			case ack = <-p.f.Ok():
			case err := <-p.f.Err():
				return fmt.Errorf("repair publish to %s: %w", p.f.Msg().Subject, err)
			case <-ctx.Done():
				return ctx.Err()
			}
			rec, _ := json.Marshal(map[string]any{"v": p.c.d.Version, "seq": ack.Sequence})
			if _, err := r.kv.Put(ctx, repairContactKey(r.opts.Ticket, p.c.key), rec); err != nil {
				return fmt.Errorf("record %s under ticket %s (bucket %s): %w", p.c.d.ExternalID, r.opts.Ticket, bus.BucketState, err)
			}
			it.Outcome, it.Duplicate = RepairRedriven, ack.Duplicate
			r.res.Redriven++
			if ack.Duplicate {
				r.res.Duplicates++
			}
			r.tick()
		}
		pending = pending[:0]
		return nil
	}
	for _, c := range cs {
		it := &r.res.Items[c.item]
		if r.opts.DryRun {
			it.Outcome = RepairWouldRedrive
			r.res.WouldRedrive++
			continue
		}
		c.msg.Header.Set(bus.HeaderRepairTicket, r.opts.Ticket)
		c.msg.Header.Set(HeaderReplayTicket, r.opts.Ticket)
		f, err := r.o.js.PublishMsgAsync(c.msg, jetstream.WithMsgID(repairMsgID(r.opts.Ticket, c.key, c.d.Version)),
			jetstream.WithExpectStream(bus.StreamContacts))
		if err != nil {
			return fmt.Errorf("repair publish to %s: %w", c.msg.Subject, err)
		}
		pending = append(pending, sent{c, f})
		if len(pending) >= publishWindow {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

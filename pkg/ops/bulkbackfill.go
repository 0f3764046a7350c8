package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/internal/ctxsleep"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/telemetry"
	"github.com/contactsync/contactsync/pkg/worker"
)

// DefaultBulkThreshold is the number of contacts to write from which
// `syncctl backfill` goes through Bulk API 2.0 on its own (SYNC_BULK_THRESHOLD).
// Below it a Collections backfill costs at most threshold/200 calls (50),
// about what one Bulk job costs once its polls are counted.
const DefaultBulkThreshold = 10000

// BulkSalesforce is what a Bulk backfill needs from the Salesforce client.
type BulkSalesforce interface {
	conflict.SF
	CreateIngestJob(ctx context.Context, spec salesforce.IngestSpec) (salesforce.BulkJob, error)
	UploadJobData(ctx context.Context, id string, data []byte) error
	CloseJob(ctx context.Context, id string) (salesforce.BulkJob, error)
	AbortJob(ctx context.Context, kind, id string) (salesforce.BulkJob, error)
	WaitBulkJob(ctx context.Context, kind, id string, o salesforce.BulkOptions) (salesforce.BulkJob, error)
	IngestResults(ctx context.Context, id string) (*salesforce.IngestResults, error)
	APICalls() int64
	// Usage and Limits feed the API budget gate (upsert.Gate).
	Usage() salesforce.Usage
	Limits(ctx context.Context) (map[string]salesforce.Limit, error)
}

// BulkBackfillOptions configures a backfill through Bulk API 2.0.
type BulkBackfillOptions struct {
	Segment string // required
	Ticket  string // required; names the resume record, so a rerun with it re-attaches
	// Since / SinceSeq select the CONTACTS history as for Backfill.
	Since    time.Time
	SinceSeq uint64
	SF       BulkSalesforce     // required
	Resolver *conflict.Resolver // required: DUPLICATES_DETECTED rows go through it as on the live path
	// ExternalIDField ("" = External_Contact_ID__c), VersionField (""
	// = Sync_Version__c; the version guard), Object ("" = Contact).
	ExternalIDField, VersionField, Object string
	// MaxUploadBytes splits the upload (one job per part); 0 = 100 MB.
	MaxUploadBytes int
	Bulk           salesforce.BulkOptions
	// Progress receives progress lines (stderr in syncctl).
	Progress func(BulkBackfillResult)
	// APIBudget > 0 gates every step that writes (each job, each batch of
	// conflicts, each Collections round) at this share of the org's daily
	// API allocation, with the live path's gate (upsert.Gate): at or past
	// it, the backfill waits up to BudgetWait for /limits to show room
	// (checked every LimitCheckInterval, default 1m), then stops with
	// ErrAPIBudget; the same ticket resumes it. 0 = no gate.
	APIBudget          float64
	BudgetWait         time.Duration
	LimitCheckInterval time.Duration
	// APIBudgetSetting names where APIBudget came from, for messages
	// (e.g. "SF_API_BUDGET=0.5").
	APIBudgetSetting string
}

func (o *BulkBackfillOptions) defaults() error {
	if err := checkSegment(o.Segment, true); err != nil {
		return err
	}
	if err := checkTicket(o.Ticket); err != nil {
		return err
	}
	if o.SF == nil || o.Resolver == nil {
		return fmt.Errorf("%w: a bulk backfill needs a Salesforce client and a conflict resolver", ErrInvalid)
	}
	if o.ExternalIDField == "" {
		o.ExternalIDField = conflict.DefaultExternalIDField
	}
	if o.VersionField == "" {
		o.VersionField = "Sync_Version__c"
	}
	if o.Object == "" {
		o.Object = "Contact"
	}
	return nil
}

// BulkBackfillResult counts a Bulk backfill. Every contact read ends in one
// of AlreadyApplied, Applied, Stale, Held, DeadLettered; Retried counts
// those that went through Collections on the way.
type BulkBackfillResult struct {
	Segment        string        `json:"segment"`
	Ticket         string        `json:"ticket"`
	Phase          string        `json:"phase"`
	Deltas         int           `json:"deltas"`          // deltas read from CONTACTS
	Invalid        int           `json:"invalid"`         // undecodable deltas, dead-lettered as INVALID_DELTA (counted in DeadLettered too)
	Contacts       int           `json:"contacts"`        // distinct contacts in the history
	AlreadyApplied int           `json:"already_applied"` // contact state already has the newest version
	Uploaded       int           `json:"uploaded"`        // rows uploaded (or found uploaded on re-attach)
	Jobs           []string      `json:"jobs,omitempty"`
	Reattached     bool          `json:"reattached,omitempty"`
	JobState       string        `json:"job_state,omitempty"`
	Processed      int           `json:"processed"` // rows Salesforce processed
	Failed         int           `json:"failed"`    // rows Salesforce refused
	Applied        int           `json:"applied"`   // written (created, updated, adopted, re-keyed)
	Conflicts      int           `json:"conflicts"` // exceptions published
	Held           int           `json:"held"`
	Stale          int           `json:"stale"` // refused by the version guard: a newer version is there
	DeadLettered   int           `json:"dead_lettered"`
	Retried        int           `json:"retried"` // sent again through Collections (transient or unprocessed)
	Unmatched      int           `json:"unmatched,omitempty"`
	Paused         string        `json:"paused,omitempty"`  // why the backfill waits at the API budget gate (phase "paused")
	Stopped        string        `json:"stopped,omitempty"` // why it stopped at the gate (ErrAPIBudget)
	APICalls       int64         `json:"api_calls"`
	Elapsed        time.Duration `json:"elapsed_ns"`
}

// bulkWrite is one contact's folded history.
type bulkWrite struct {
	key     string
	newest  delta.Delta
	raw     []byte // the newest delta as stored
	seq     uint64 // its CONTACTS sequence
	subject string
	fields  map[string]any
	rev     uint64 // contact state revision read
	stateV  int64
}

// bulkResume is what the backfill keeps in the state bucket under
// bulk-backfill.<segment>.<ticket>: the jobs it created, so a rerun after
// a kill re-attaches to them instead of uploading again.
type bulkResume struct {
	Jobs []string `json:"jobs"`
	Done bool     `json:"done,omitempty"`
}

func resumeKey(segment, ticket string) string { return "bulk-backfill." + segment + "." + ticket }

// BulkBackfill writes a segment's history to Salesforce through Bulk API
// 2.0 instead of republishing it: the history is folded per contact (every
// field's newest value, as the upserters would leave it), contacts whose
// state already has the newest version are skipped, the rest go in one
// upsert job (one per MaxUploadBytes), and every result row is settled as
// the live path settles a collections result: success → contact state;
// DUPLICATES_DETECTED → the conflict resolver, in batches, publishing its
// exceptions on CONFLICTS; the version guard's refusal → stale; permanent
// → DLQ with Salesforce's reason; transient and unprocessed → Collections.
// Every row carries Sync_Version__c, so a live upserter writing a newer
// version meanwhile is never rolled back, and state is only saved by
// compare-and-set when it does not hold a newer version.
func (o *Ops) BulkBackfill(ctx context.Context, opts BulkBackfillOptions) (BulkBackfillResult, error) {
	if err := opts.defaults(); err != nil {
		return BulkBackfillResult{}, err
	}
	b := &bulkBackfill{o: o, opts: opts, start: o.now(), calls0: opts.SF.APICalls(), budget: newBulkBudget(opts, o.log)}
	b.res.Segment, b.res.Ticket = opts.Segment, opts.Ticket
	err := b.run(ctx)
	b.res.APICalls = opts.SF.APICalls() - b.calls0
	b.res.Elapsed = o.now().Sub(b.start)
	b.progress("done")
	o.log.Info("bulk backfill finished", zap.String("segment", opts.Segment), zap.String("ticket", opts.Ticket),
		zap.Int("applied", b.res.Applied), zap.Int("dead_lettered", b.res.DeadLettered), zap.Int64("api_calls", b.res.APICalls), zap.Error(err))
	return b.res, err
}

type bulkBackfill struct {
	o      *Ops
	opts   BulkBackfillOptions
	res    BulkBackfillResult
	start  time.Time
	calls0 int64
	kv     jetstream.KeyValue
	budget *bulkBudget   // nil = no API budget gate
	saves  []pendingSave // applied contacts whose state is not saved yet
}

func (b *bulkBackfill) progress(phase string) {
	b.res.Phase = phase
	if b.opts.Progress != nil {
		r := b.res
		r.APICalls = b.opts.SF.APICalls() - b.calls0
		r.Elapsed = b.o.now().Sub(b.start)
		b.opts.Progress(r)
	}
}

func (b *bulkBackfill) run(ctx context.Context) error {
	kv, err := b.o.js.KeyValue(ctx, bus.BucketState)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bus.BucketState, err)
	}
	b.kv = kv
	if b.budget != nil && !b.opts.SF.Usage().Seen {
		// One /limits read, so the gate knows the org's use before the
		// first job rather than after it.
		if _, err := b.opts.SF.Limits(ctx); err != nil {
			b.o.log.Debug("bulk backfill: limits check failed", zap.Error(err))
		}
	}
	writes, err := b.fold(ctx)
	if err != nil {
		return err
	}
	b.progress("folded")
	fields := b.columns(writes)
	recs := make([]salesforce.Record, len(writes))
	for i, w := range writes {
		recs[i] = b.record(w)
	}
	outs := make([]salesforce.BulkOutcome, len(recs))
	all := make([]int, len(recs))
	for i := range all {
		all[i] = i
	}
	chunks := b.encode(fields, recs, all, outs)
	res, reattached, jobErr := b.jobs(ctx, chunks)
	if res == nil {
		return jobErr
	}
	b.res.Unmatched = salesforce.MatchIngestResults(fields, recs, joinChunks(chunks), res, outs)
	if reattached && jobErr == nil {
		// Rows no attached job holds (a kill between jobs, or before an
		// upload was closed) go up in new jobs, not row by row.
		if err := b.uncovered(ctx, fields, recs, outs); err != nil {
			return err
		}
	}
	b.progress("settling")
	err = b.settle(ctx, writes, recs, outs)
	// What settled before a stop is saved all the same.
	if ferr := b.flushSaves(ctx); ferr != nil {
		err = errors.Join(err, ferr)
	}
	if err != nil {
		return errors.Join(jobErr, err)
	}
	if err := b.saveResume(ctx, bulkResume{Jobs: b.res.Jobs, Done: true}); err != nil {
		return errors.Join(jobErr, err)
	}
	return jobErr
}

// encode renders recs[idx] as upload chunks whose Rows index recs; a
// record that cannot be encoded is marked Rejected in outs.
func (b *bulkBackfill) encode(fields []string, recs []salesforce.Record, idx []int, outs []salesforce.BulkOutcome) []salesforce.BulkChunk {
	enc := salesforce.NewBulkEncoder(fields)
	if b.opts.MaxUploadBytes > 0 {
		enc.MaxBytes = b.opts.MaxUploadBytes
	}
	for _, i := range idx {
		if err := enc.Add(recs[i]); err != nil {
			outs[i].Rejected = err
		}
	}
	chunks := enc.Chunks()
	for c := range chunks {
		for k, r := range chunks[c].Rows {
			chunks[c].Rows[k] = idx[r]
		}
	}
	return chunks
}

func joinChunks(chunks []salesforce.BulkChunk) salesforce.BulkChunk {
	var all salesforce.BulkChunk
	for _, ch := range chunks {
		all.Rows = append(all.Rows, ch.Rows...)
	}
	return all
}

// uncovered uploads, in new jobs, the rows no re-attached job returned.
func (b *bulkBackfill) uncovered(ctx context.Context, fields []string, recs []salesforce.Record, outs []salesforce.BulkOutcome) error {
	var idx []int
	for i, o := range outs {
		if o.Unprocessed && o.Rejected == nil {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	b.o.log.Info("bulk backfill: uploading rows the re-attached jobs did not hold", zap.Int("rows", len(idx)))
	chunks := b.encode(fields, recs, idx, outs)
	ids, err := b.upload(ctx, chunks)
	if err != nil {
		return err
	}
	res, err := b.collect(ctx, ids, false)
	if res == nil {
		return err
	}
	for _, i := range idx {
		outs[i].Unprocessed = false
	}
	b.res.Unmatched += salesforce.MatchIngestResults(fields, recs, joinChunks(chunks), res, outs)
	return err
}

// fold reads the segment's history and folds it per contact, newest
// version last, skipping what contact state says is applied.
func (b *bulkBackfill) fold(ctx context.Context) ([]*bulkWrite, error) {
	type hist struct {
		ds   []delta.Delta
		recs []record
	}
	by := map[string]*hist{}
	filter := "contacts.delta." + b.opts.Segment + ".*.*"
	err := scan(ctx, b.o.js, bus.StreamContacts, filter, scanFrom{Seq: b.opts.SinceSeq, Time: b.opts.Since}, false, func(r record) error {
		b.res.Deltas++
		d, err := delta.Decode(r.Data)
		if err != nil {
			// As the upserter does: an undecodable delta goes to the DLQ
			// with the reason (its Nats-Msg-Id is per stream sequence, so
			// a rerun does not dead-letter it twice).
			b.res.Invalid++
			w := &bulkWrite{raw: r.Data, seq: r.Seq, subject: bus.OriginalSubject(r.Subject)}
			w.newest.ExternalID = r.Header.Get(delta.HeaderExternalID)
			return b.deadLetter(ctx, w, "INVALID_DELTA", err.Error())
		}
		k := delta.ContactKey(d.ExternalID)
		h := by[k]
		if h == nil {
			h = &hist{}
			by[k] = h
		}
		h.ds = append(h.ds, d)
		h.recs = append(h.recs, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	keys := slices.Sorted(maps.Keys(by))
	b.res.Contacts = len(keys)
	states, err := readStates(ctx, b.o.js, keys)
	if err != nil {
		return nil, err
	}
	var out []*bulkWrite
	for _, k := range keys {
		h := by[k]
		st := states[k]
		w := &bulkWrite{key: k, rev: st.rev, stateV: st.Version}
		idx := make([]int, len(h.ds))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, c int) int { return int(h.ds[a].Version - h.ds[c].Version) })
		w.fields = map[string]any{}
		for _, i := range idx {
			d := h.ds[i]
			if d.Version <= w.stateV {
				continue
			}
			maps.Copy(w.fields, d.Fields)
			w.newest, w.raw, w.seq, w.subject = d, h.recs[i].Data, h.recs[i].Seq, bus.OriginalSubject(h.recs[i].Subject)
		}
		if w.newest.ExternalID == "" {
			b.res.AlreadyApplied++
			continue
		}
		out = append(out, w)
	}
	return out, nil
}

func (b *bulkBackfill) columns(ws []*bulkWrite) []string {
	set := map[string]bool{}
	for _, w := range ws {
		for f := range w.fields {
			set[f] = true
		}
	}
	delete(set, b.opts.ExternalIDField)
	delete(set, b.opts.VersionField)
	return append([]string{b.opts.ExternalIDField, b.opts.VersionField}, slices.Sorted(maps.Keys(set))...)
}

func (b *bulkBackfill) record(w *bulkWrite) salesforce.Record {
	r := salesforce.Record(maps.Clone(w.fields))
	r[b.opts.ExternalIDField] = w.newest.ExternalID
	r[b.opts.VersionField] = w.newest.Version
	return r
}

func (b *bulkBackfill) loadResume(ctx context.Context) (bulkResume, uint64, error) {
	var r bulkResume
	e, err := b.kv.Get(ctx, resumeKey(b.opts.Segment, b.opts.Ticket))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return r, 0, nil
	}
	if err != nil {
		return r, 0, fmt.Errorf("read backfill record: %w", err)
	}
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return r, 0, fmt.Errorf("backfill record %s: %w", resumeKey(b.opts.Segment, b.opts.Ticket), err)
	}
	return r, e.Revision(), nil
}

func (b *bulkBackfill) saveResume(ctx context.Context, r bulkResume) error {
	data, _ := json.Marshal(r)
	if _, err := b.kv.Put(ctx, resumeKey(b.opts.Segment, b.opts.Ticket), data); err != nil {
		return fmt.Errorf("record bulk job ids (%s): %w", resumeKey(b.opts.Segment, b.opts.Ticket), err)
	}
	return nil
}

// jobs runs the upload's jobs, or re-attaches to those a killed or stopped
// run recorded under the ticket, and returns their results together (a
// re-attached run uploads nothing here: see uncovered). A job that ended
// Failed or Aborted is in the returned error; its unattempted rows come
// back unprocessed.
func (b *bulkBackfill) jobs(ctx context.Context, chunks []salesforce.BulkChunk) (*salesforce.IngestResults, bool, error) {
	rs, _, err := b.loadResume(ctx)
	if err != nil {
		return nil, false, err
	}
	if rs.Done {
		return nil, false, fmt.Errorf("%w: ticket %s already finished a bulk backfill of segment %s (jobs %s); use a new --ticket to run again",
			ErrInvalid, b.opts.Ticket, b.opts.Segment, strings.Join(rs.Jobs, ", "))
	}
	if len(rs.Jobs) == 0 {
		ids, err := b.upload(ctx, chunks)
		if err != nil {
			return nil, false, err
		}
		res, err := b.collect(ctx, ids, false)
		return res, false, err
	}
	// Re-attach: a job still Open never got its upload closed; abort it
	// (its rows go up again with the others no job holds).
	b.res.Reattached = true
	b.res.Jobs = slices.Clone(rs.Jobs)
	var ids, open []string
	for _, id := range rs.Jobs {
		j, err := b.opts.SF.WaitBulkJob(ctx, "ingest", id, salesforce.BulkOptions{Wait: time.Nanosecond})
		if err == nil || j.State != salesforce.JobOpen {
			ids = append(ids, id)
			continue
		}
		open = append(open, id)
		if _, err := b.opts.SF.AbortJob(ctx, "ingest", id); err != nil {
			return nil, true, err
		}
	}
	if len(open) > 0 {
		b.o.log.Info("bulk backfill: aborted jobs a kill left open", zap.Strings("aborted", open))
	}
	res, err := b.collect(ctx, ids, true)
	return res, true, err
}

// upload creates one job per chunk, recording each id under the ticket
// before its upload (a kill from there on re-attaches), and closes it.
func (b *bulkBackfill) upload(ctx context.Context, chunks []salesforce.BulkChunk) ([]string, error) {
	sf := b.opts.SF
	spec := salesforce.IngestSpec{Object: b.opts.Object, Operation: "upsert", ExternalIDField: b.opts.ExternalIDField}
	var ids []string
	for _, ch := range chunks {
		if err := b.admit(ctx, "creating a Bulk job"); err != nil {
			return nil, err
		}
		j, err := sf.CreateIngestJob(ctx, spec)
		if err != nil {
			return nil, b.limited("creating a Bulk job", err)
		}
		ids = append(ids, j.ID)
		b.res.Jobs = append(b.res.Jobs, j.ID)
		if err := b.saveResume(ctx, bulkResume{Jobs: b.res.Jobs}); err != nil {
			return nil, err
		}
		if err := sf.UploadJobData(ctx, j.ID, ch.Data); err != nil {
			return nil, b.limited("uploading job "+j.ID, err)
		}
		b.res.Uploaded += len(ch.Rows)
		b.progress("uploaded")
		if _, err := sf.CloseJob(ctx, j.ID); err != nil {
			return nil, b.limited("closing job "+j.ID, err)
		}
	}
	return ids, nil
}

// collect waits for the jobs and returns their results together; attached
// says they were uploaded by an earlier run (their rows count as uploaded).
func (b *bulkBackfill) collect(ctx context.Context, ids []string, attached bool) (*salesforce.IngestResults, error) {
	sf := b.opts.SF
	all := &salesforce.IngestResults{}
	var jobErrs []error
	for _, id := range ids {
		bo := b.opts.Bulk
		bo.Progress = func(j salesforce.BulkJob) {
			b.res.JobState = j.State
			b.progress("waiting")
		}
		j, err := sf.WaitBulkJob(ctx, "ingest", id, bo)
		var je *salesforce.BulkJobError
		if err != nil && !errors.As(err, &je) {
			return nil, err
		}
		if err != nil {
			jobErrs = append(jobErrs, err)
		}
		b.res.Processed += j.NumberRecordsProcessed
		b.res.Failed += j.NumberRecordsFailed
		b.res.JobState = j.State
		r, err := sf.IngestResults(ctx, id)
		if err != nil {
			return nil, err
		}
		if attached {
			b.res.Uploaded += len(r.Successful) + len(r.Failed) + len(r.Unprocessed)
		}
		all.Successful = append(all.Successful, r.Successful...)
		all.Failed = append(all.Failed, r.Failed...)
		all.Unprocessed = append(all.Unprocessed, r.Unprocessed...)
	}
	return all, errors.Join(jobErrs...)
}

// settle maps every outcome as the live path would.
func (b *bulkBackfill) settle(ctx context.Context, ws []*bulkWrite, recs []salesforce.Record, outs []salesforce.BulkOutcome) error {
	var refusedW []*bulkWrite
	var refusals []conflict.Refusal
	var retry []int
	for i, o := range outs {
		w := ws[i]
		switch {
		case o.Rejected != nil:
			if err := b.deadLetter(ctx, w, "BULK_ENCODE", o.Rejected.Error()); err != nil {
				return err
			}
		case o.Unprocessed:
			retry = append(retry, i)
		case o.Err == nil:
			if err := b.applied(ctx, w, o.ID); err != nil {
				return err
			}
		default:
			r, err := b.decide(ctx, w, *o.Err)
			if err != nil {
				return err
			}
			switch r {
			case "refused":
				refusedW = append(refusedW, w)
				refusals = append(refusals, b.refusal(w, *o.Err))
			case "retry":
				retry = append(retry, i)
			}
		}
	}
	if err := b.resolve(ctx, refusedW, refusals); err != nil {
		return err
	}
	return b.collections(ctx, ws, recs, retry)
}

// decide settles a refused row: "refused" (conflict path), "retry", or
// "" (settled here: stale or dead-lettered).
func (b *bulkBackfill) decide(ctx context.Context, w *bulkWrite, e salesforce.RecordError) (string, error) {
	switch {
	case e.StatusCode == salesforce.CodeDuplicatesDetected || e.StatusCode == salesforce.CodeDuplicateExternalID:
		return "refused", nil
	case e.StatusCode == salesforce.CodeFieldCustomValidationException && slices.ContainsFunc(e.Fields, func(f string) bool { return strings.EqualFold(f, b.opts.VersionField) }):
		b.res.Stale++
		return "", nil
	case e.Class() == salesforce.ClassTransient || e.Class() == salesforce.ClassLimit || e.Class() == salesforce.ClassSession:
		return "retry", nil
	}
	return "", b.deadLetter(ctx, w, e.StatusCode, e.Message)
}

// refusal is a refused row as the resolver sees it from the live path: the
// folded fields with the version field, so the writes it makes (adopt,
// re-key, save anyway) carry Sync_Version__c too.
func (b *bulkBackfill) refusal(w *bulkWrite, e salesforce.RecordError) conflict.Refusal {
	d := w.newest
	d.Fields = maps.Clone(w.fields)
	d.Fields[b.opts.VersionField] = w.newest.Version
	return conflict.Refusal{Delta: d, Err: e, Raw: w.raw}
}

// resolve hands the duplicate refusals to the conflict resolver in
// batches of 200, as the live path hands it a batch.
func (b *bulkBackfill) resolve(ctx context.Context, ws []*bulkWrite, refusals []conflict.Refusal) error {
	for start := 0; start < len(refusals); start += salesforce.MaxCollectionSize {
		end := min(start+salesforce.MaxCollectionSize, len(refusals))
		if err := b.admit(ctx, "resolving duplicate-rule conflicts"); err != nil {
			return err
		}
		outs, err := b.opts.Resolver.Resolve(ctx, refusals[start:end])
		if err != nil {
			return b.limited("resolving duplicate-rule conflicts", fmt.Errorf("conflict resolution: %w", err))
		}
		for _, o := range outs {
			if o.Outcome == worker.Retried && o.Err != nil && salesforce.ClassOf(o.Err) == salesforce.ClassLimit {
				return b.limited("resolving duplicate-rule conflicts", o.Err)
			}
		}
		for j, o := range outs {
			w := ws[start+j]
			if o.Event != nil && o.Outcome != worker.Retried {
				if err := b.publishEvent(ctx, o.Event); err != nil {
					return err
				}
			}
			switch o.Outcome {
			case worker.Adopted, worker.Rekeyed, worker.Created:
				if err := b.applied(ctx, w, o.ID); err != nil {
					return err
				}
			case worker.Held:
				b.res.Held++
			case worker.DeadLettered:
				code, msg := "CONFLICT_WRITE_FAILED", "conflict resolution failed"
				var ae *salesforce.APIError
				if errors.As(o.Err, &ae) {
					code, msg = ae.ErrorCode, ae.Message
				}
				if err := b.deadLetter(ctx, w, code, msg); err != nil {
					return err
				}
			default:
				msg := "conflict resolution asked for a retry"
				if o.Err != nil {
					msg += ": " + o.Err.Error()
				}
				if err := b.deadLetter(ctx, w, "RETRIES_EXHAUSTED", msg); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// collections sends the transient and unprocessed rows through sObject
// Collections, a few rounds, and settles them like Bulk rows.
func (b *bulkBackfill) collections(ctx context.Context, ws []*bulkWrite, recs []salesforce.Record, idx []int) error {
	const rounds = 3
	for round := 1; len(idx) > 0; round++ {
		b.res.Retried += len(idx)
		b.progress("collections")
		batch := make([]salesforce.Record, len(idx))
		for i, k := range idx {
			batch[i] = recs[k]
		}
		if err := b.admit(ctx, "retrying rows through Collections"); err != nil {
			return err
		}
		res, err := b.opts.SF.UpsertCollection(ctx, b.opts.Object, b.opts.ExternalIDField, batch, salesforce.WriteOptions{})
		// Out of allocation: settle what came back, then stop (a rerun
		// under the same ticket retries the rest).
		stop := b.limited("retrying rows through Collections", err)
		if !errors.Is(stop, ErrAPIBudget) {
			stop = nil
		}
		var next []int
		var refusedW []*bulkWrite
		var refusals []conflict.Refusal
		for i, k := range idx {
			w := ws[k]
			if i >= len(res) {
				next = append(next, k)
				continue
			}
			r := res[i]
			if r.Success {
				if err := b.applied(ctx, w, r.ID); err != nil {
					return err
				}
				continue
			}
			e := salesforce.RecordError{StatusCode: salesforce.CodeUnknownError, Message: "record failed without an error"}
			if len(r.Errors) > 0 {
				e = r.Errors[0]
			}
			d, derr := b.decide(ctx, w, e)
			if derr != nil {
				return derr
			}
			switch d {
			case "refused":
				refusedW = append(refusedW, w)
				refusals = append(refusals, b.refusal(w, e))
			case "retry":
				next = append(next, k)
			}
		}
		if err := b.resolve(ctx, refusedW, refusals); err != nil {
			return err
		}
		if stop != nil {
			return stop
		}
		if round == rounds {
			for _, k := range next {
				msg := "transient failures persisted through Bulk and " + fmt.Sprint(rounds) + " Collections attempts"
				if err != nil {
					msg += ": " + err.Error()
				}
				if derr := b.deadLetter(ctx, ws[k], "RETRIES_EXHAUSTED", msg); derr != nil {
					return derr
				}
			}
			return nil
		}
		if err != nil && salesforce.ClassOf(err) == salesforce.ClassPermanent {
			return fmt.Errorf("collections retry: %w", err)
		}
		idx = next
		if len(idx) > 0 && !ctxsleep.Sleep(ctx, time.Duration(round)*500*time.Millisecond) {
			return ctx.Err()
		}
	}
	return nil
}

// stateSaveWindow is how many state saves go out pipelined before their
// acks are awaited.
const stateSaveWindow = 1000

// pendingSave is a contact written to Salesforce whose state is not saved yet.
type pendingSave struct {
	w  *bulkWrite
	id string
}

func stateValue(id string, v int64) []byte {
	data, _ := json.Marshal(struct {
		ID string `json:"id,omitempty"`
		V  int64  `json:"v"`
	}{id, v})
	return data
}

// applied records a written contact; its state is saved with the next
// flush (every stateSaveWindow, and when settling ends).
func (b *bulkBackfill) applied(ctx context.Context, w *bulkWrite, id string) error {
	b.res.Applied++
	b.saves = append(b.saves, pendingSave{w, id})
	if len(b.saves) >= stateSaveWindow {
		return b.flushSaves(ctx)
	}
	return nil
}

// flushSaves saves the pending states as compare-and-set publishes on the
// revision each was read at, pipelined (as the upserter saves a batch);
// a save that fails (the key moved on: a live upserter wrote it) goes
// through saveState, which keeps a newer version.
func (b *bulkBackfill) flushSaves(ctx context.Context) error {
	saves := b.saves
	b.saves = nil
	type inflight struct {
		p pendingSave
		f jetstream.PubAckFuture
	}
	var fs []inflight
	var again []pendingSave
	for _, p := range saves {
		f, err := b.o.js.PublishAsync(stateSubject+p.w.key, stateValue(p.id, p.w.newest.Version),
			jetstream.WithExpectLastSequencePerSubject(p.w.rev))
		if err != nil {
			again = append(again, p)
			continue
		}
		fs = append(fs, inflight{p, f})
	}
	for _, x := range fs {
		select {
		case <-x.f.Ok():
		case <-x.f.Err():
			again = append(again, x.p)
		case <-ctx.Done():
			return fmt.Errorf("save contact state: %w", ctx.Err())
		}
	}
	for _, p := range again {
		if err := b.saveState(ctx, p.w, p.id); err != nil {
			return err
		}
	}
	return nil
}

// saveState saves one contact's state by compare-and-set, unless the
// state already holds the newest version or a newer one (a live upserter
// got there first).
func (b *bulkBackfill) saveState(ctx context.Context, w *bulkWrite, id string) error {
	data := stateValue(id, w.newest.Version)
	rev := w.rev
	for range 5 {
		var err error
		if rev == 0 {
			_, err = b.kv.Create(ctx, w.key, data)
		} else {
			_, err = b.kv.Update(ctx, w.key, data, rev)
		}
		if err == nil {
			return nil
		}
		e, gerr := b.kv.Get(ctx, w.key)
		if gerr != nil && !errors.Is(gerr, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("contact state %s: %w (after %v)", w.key, gerr, err)
		}
		if e == nil {
			rev = 0
			continue
		}
		var st struct {
			V int64 `json:"v"`
		}
		_ = json.Unmarshal(e.Value(), &st)
		if st.V >= w.newest.Version {
			return nil
		}
		rev = e.Revision()
	}
	return fmt.Errorf("contact state %s: could not save after 5 attempts", w.key)
}

func (b *bulkBackfill) deadLetter(ctx context.Context, w *bulkWrite, code, msg string) error {
	b.res.DeadLettered++
	h := nats.Header{}
	h.Set(delta.HeaderExternalID, w.newest.ExternalID)
	h.Set(HeaderReplayTicket, b.opts.Ticket)
	// Bulk's failed rows quote the refused value, as the REST path does:
	// the reason is redacted where it is written (the payload, kept for
	// replay, is the only copy of the data).
	msg = telemetry.Redact(msg)
	dl := bus.DeadLetter{Subject: w.subject, Data: w.raw, Header: h, ErrorCode: code, Message: msg, StreamSeq: w.seq}
	if err := bus.PublishDeadLetter(ctx, b.o.js, dl); err != nil {
		return fmt.Errorf("dead letter for %s: %w", w.key, err)
	}
	b.o.log.Warn("bulk backfill: dead-lettered", zap.String("code", code), zap.String("reason", msg), zap.Uint64("stream_seq", w.seq))
	return nil
}

// publishEvent publishes an exception exactly as the upserter does (same
// subject and Nats-Msg-Id), so a live run and a backfill make one record.
func (b *bulkBackfill) publishEvent(ctx context.Context, ev *conflict.Event) error {
	m, err := ev.Message()
	if err != nil {
		return err
	}
	if _, err := b.o.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish conflict event: %w", err)
	}
	b.res.Conflicts++
	return nil
}

package upsert

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/fleet"
	"github.com/contactsync/contactsync/pkg/internal/ctxsleep"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/telemetry"
	"github.com/contactsync/contactsync/pkg/worker"
)

// set decides message i's outcome; segment is its metrics label.
func (b *batchRun) set(i int, o worker.Outcome, segment string) {
	b.res[i], b.segs[i] = worker.Result{Outcome: o}, segment
}

// deadLetter decides that message i goes to the DLQ, and why.
func (b *batchRun) deadLetter(i int, segment, code, message string) {
	b.res[i], b.segs[i] = worker.Result{Outcome: worker.DeadLettered, Code: code, Message: message}, segment
}

// pending reports whether message i has no final decision.
func (b *batchRun) pending(i int) bool { return b.res[i].Outcome == worker.Retried }

// batchRun carries one batch from fetch to settle.
type batchRun struct {
	u     *Upserter
	p     int
	lease *fleet.Lease
	msgs  []jetstream.Msg
	// res is the decision on each message; worker.Retried until one is
	// made, so a message left without one (lease lost, shutdown, a settle
	// step failed) is handed back for redelivery. segs are their segments
	// (a metrics label).
	res    []worker.Result
	segs   []string
	writes []*write
	log    *zap.Logger
	open   *opening // the combiner opening it was gathered under, until its first call
}

// process decides the outcome of every message of a batch: validate, read
// state, fold, write to Salesforce, settle conflicts. It performs no
// JetStream side effect but reads; settle does them all. Messages without a
// decision when ctx ends (lease lost, shutdown) stay pending.
func (u *Upserter) process(ctx context.Context, p int, lease *fleet.Lease, g gathered, log *zap.Logger) *batchRun {
	msgs := g.msgs
	b := &batchRun{u: u, p: p, lease: lease, msgs: msgs, res: make([]worker.Result, len(msgs)), segs: make([]string, len(msgs)), log: log, open: g.open}
	defer u.combiner.leave(g.open) // nothing (more) to write
	items := make([]item, 0, len(msgs))
	seen := make(map[uint64]bool, len(msgs))
	for i, m := range msgs {
		b.set(i, worker.Retried, bus.SegmentOf(m.Subject()))
		md, err := m.Metadata()
		if err == nil && seen[md.Sequence.Stream] {
			// JetStream can hand one message to a pull twice (a redelivery
			// queued after AckWait, then a nak); it is one delta.
			b.res[i] = worker.Result{Again: true}
			continue
		}
		if err == nil {
			seen[md.Sequence.Stream] = true
		}
		if err == nil && md.NumDelivered >= uint64(u.cfg.MaxDeliver) {
			b.deadLetter(i, b.segs[i], "MAX_DELIVERIES",
				fmt.Sprintf("delivered %d times without completing (SYNC_MAX_DELIVER); check worker logs", md.NumDelivered))
			continue
		}
		d, err := delta.Decode(m.Data())
		if err != nil {
			b.deadLetter(i, b.segs[i], "INVALID_DELTA", err.Error())
			continue
		}
		if d.IsDelete() && !u.deletes() {
			b.deadLetter(i, d.Segment, "DELETE_UNSUPPORTED",
				"this upserter cannot delete contacts (its Salesforce client has no DeleteCollection)")
			continue
		}
		items = append(items, item{idx: i, delta: d, key: delta.ContactKey(d.ExternalID),
			repair: m.Headers().Get(bus.HeaderRepairTicket) != ""})
	}
	if len(items) == 0 {
		return b
	}
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.key
	}
	// Renew, then read: the read must be at least as new as this renewal
	// (see stateStore), and the renewal proves we still hold the partition
	// just before writing to Salesforce.
	var state map[string]stored
	err := retry(ctx, log, "read contact state", func(ctx context.Context) error {
		floor, err := lease.Renew(ctx)
		if err != nil {
			return err
		}
		state, err = u.state.load(ctx, p, keys, lease, floor)
		return err
	})
	if err != nil {
		return b
	}
	items, dels := b.splitDeletes(items, state)
	writes, stale := fold(items, state)
	for _, it := range stale {
		b.set(it.idx, worker.StaleSkipped, it.delta.Segment)
	}
	if f := u.cfg.VersionField; f != "" {
		for _, w := range writes {
			w.fields[f] = w.version
		}
	}
	b.writes = append(writes, dels...)
	b.write(ctx, writes)
	b.delete(ctx, dels)
	return b
}

// settle is the one place where a batch's decisions take effect, in the
// order that keeps the invariants:
//
//  1. publish the conflict events of decided writes, and the dead letters;
//     a write or message whose publish fails stays pending;
//  2. save contact state only for writes that fully settled (applied and,
//     if they raised one, their event published), compare-and-set per key;
//     a write whose save fails stays pending;
//  3. ack what is settled, term what is dead-lettered, nak what is pending
//     (redelivered at once, to whoever holds the partition then).
//
// So an acked delta always has its state and its exception stored, a
// pending one has changed nothing that its redelivery would not redo (every
// write and publish is idempotent), and no state is saved for a write whose
// exception could not be published (its redelivery must not look stale).
func (u *Upserter) settle(ctx context.Context, b *batchRun) {
	log := b.log
	for _, w := range b.writes {
		if w.event == nil || b.pending(w.newest.idx) {
			continue
		}
		// The write is done and its redelivery would not raise the event
		// again (the contact is already re-keyed or created), so keep
		// trying while the partition is ours; publishing is idempotent.
		if err := retry(ctx, log, "publish conflict event", func(ctx context.Context) error {
			b.inProgress()
			return u.publishEvent(ctx, w.event)
		}); err != nil {
			log.Error("conflict event not published before the partition was given up; its exception may be missing",
				zap.String("kind", string(w.event.Kind)), zap.Error(err))
			b.leavePending(w)
			continue
		}
		u.d.Stats.conflicts.Add(1)
	}
	st := worker.Settler{JS: u.js, Log: log, CallTimeout: callTimeout}
	if unwritten := st.DeadLetters(ctx, b.msgs, b.res); unwritten > 0 {
		// One line per batch, not one per delta: a stop with a paused fleet
		// cuts thousands short, and they are simply redelivered.
		log.Info("stopping: dead letters left for redelivery to the partition's next owner", zap.Int("deltas", unwritten))
	}
	states := map[string]stored{}
	owner := map[string]*write{}
	for _, w := range b.writes {
		if w.applied == nil || b.pending(w.newest.idx) {
			continue
		}
		states[w.key] = *w.applied
		owner[w.key] = w
	}
	if len(states) > 0 {
		sctx, cancel := context.WithTimeout(ctx, callTimeout)
		failed := u.state.save(sctx, b.p, states)
		cancel()
		for k, err := range failed {
			log.Warn("contact state not saved; leaving delta for redelivery", zap.Error(err))
			b.leavePending(owner[k])
		}
	}
	st.Finish(b.msgs, b.res, func(i int) {
		o := b.res[i].Outcome
		u.d.Stats.Add(o, 1)
		if u.d.Latencies != nil && o.Wrote() {
			if md, err := b.msgs[i].Metadata(); err == nil {
				u.d.Latencies.record(time.Since(md.Timestamp))
			}
		}
		if u.d.Metrics != nil {
			u.d.Metrics.deltas.WithLabelValues(b.segs[i], o.String()).Inc()
		}
	})
}

func (u *Upserter) publishEvent(ctx context.Context, ev *conflict.Event) error {
	m, err := ev.Message()
	if err != nil {
		return err
	}
	_, err = u.js.PublishMsg(ctx, m)
	return err
}

// oldest is when the oldest delta of ws was published (its stream
// timestamp): the freshness budget counts from there.
func (b *batchRun) oldest(ws []*write) time.Time {
	t := time.Now()
	for _, w := range ws {
		for _, it := range w.items {
			if md, err := b.msgs[it.idx].Metadata(); err == nil && md.Timestamp.Before(t) {
				t = md.Timestamp
			}
		}
	}
	return t
}

// inProgress tells JetStream the batch's undecided-or-unsettled messages are
// still being worked on, so AckWait does not redeliver them meanwhile.
func (b *batchRun) inProgress() { worker.InProgress(b.msgs, b.res) }

// write sends the writes, retrying transient failures, until each has an outcome.
func (b *batchRun) write(ctx context.Context, writes []*write) {
	b.untilSettled(ctx, "Salesforce request failed; retrying batch", writes, b.send)
}

// untilSettled runs one round of requests (once) on ws, and again on what
// it hands back, until every write has an outcome — the one retry loop of a
// batch's Salesforce work (writes and deletes). Between rounds it waits
// while the fleet is paused, backs off (backoff/v4) and keeps the batch in
// progress. A round refused for the daily limit pauses the fleet. A
// whole-request failure (Salesforce away) is retried as long as the
// partition is held, keeping its order; writes that keep failing
// transiently on their own are dead-lettered (RETRIES_EXHAUSTED) after
// RecordRetryMaxElapsed.
func (b *batchRun) untilSettled(ctx context.Context, failed string, ws []*write, once func(context.Context, []*write) ([]*write, error)) {
	u := b.u
	bo := backoff.WithContext(newBackoff(), ctx)
	start := time.Now()
	pending := ws
	for len(pending) > 0 {
		if err := u.d.Gate.Wait(ctx); err != nil {
			return
		}
		next, err := once(ctx, pending)
		pending = next // what a bisected round settled stays settled
		if err != nil && salesforce.ClassOf(err) == salesforce.ClassLimit {
			u.d.Gate.pause("Salesforce answered REQUEST_LIMIT_EXCEEDED")
			continue
		}
		if len(pending) == 0 {
			return
		}
		if err != nil {
			b.log.Warn(failed, zap.String("error", telemetry.Redact(err.Error())), zap.Int("records", len(pending)))
		} else if time.Since(start) > u.cfg.RecordRetryMaxElapsed {
			for _, w := range pending {
				b.fail(w, "RETRIES_EXHAUSTED", "transient error persisted for "+u.cfg.RecordRetryMaxElapsed.String()+": "+w.lastErr)
			}
			return
		}
		u.d.Stats.retries.Add(1)
		wait := bo.NextBackOff()
		if wait == backoff.Stop || !ctxsleep.Sleep(ctx, wait) {
			return
		}
		b.inProgress()
	}
}

// send writes ws in one request. When Salesforce refuses the whole request
// for a permanent reason, one record is usually to blame (an unknown field
// fails the request, not the record): records carrying the field Salesforce
// names go to the DLQ and the rest are sent again; without a named field the
// batch is bisected, so a bad record costs O(log n) calls, not n.
func (b *batchRun) send(ctx context.Context, ws []*write) ([]*write, error) {
	retry, err := b.attempt(ctx, ws)
	if err == nil || salesforce.ClassOf(err) != salesforce.ClassPermanent {
		return retry, err
	}
	code, msg := errorCode(err), errorMessage(err)
	if len(ws) == 1 {
		b.fail(ws[0], code, msg)
		return nil, nil
	}
	if field := refusedField(err); field != "" {
		var good []*write
		for _, w := range ws {
			if hasField(w.fields, field) {
				b.fail(w, code, msg)
			} else {
				good = append(good, w)
			}
		}
		if len(good) < len(ws) {
			if len(good) == 0 {
				return nil, nil
			}
			return b.send(ctx, good)
		}
	}
	mid := len(ws) / 2
	r1, e1 := b.send(ctx, ws[:mid])
	r2, e2 := b.send(ctx, ws[mid:])
	return append(r1, r2...), errors.Join(e1, e2)
}

var noSuchColumn = regexp.MustCompile(`No such column '([^']+)'`)

// refusedField is the field a whole-request refusal names, if any.
func refusedField(err error) string {
	var ae *salesforce.APIError
	if !errors.As(err, &ae) {
		return ""
	}
	if len(ae.Fields) == 1 {
		return ae.Fields[0]
	}
	if m := noSuchColumn.FindStringSubmatch(ae.Message); m != nil {
		return m[1]
	}
	return ""
}

func hasField(fields map[string]any, name string) bool {
	for k := range fields {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// attempt sends ws in one collections upsert and settles what it can. It
// returns the writes to retry, and a whole-request error if there was one.
func (b *batchRun) attempt(ctx context.Context, ws []*write) ([]*write, error) {
	u := b.u
	recs := make([]salesforce.Record, len(ws))
	for i, w := range ws {
		r := salesforce.Record(maps.Clone(w.fields))
		r[u.cfg.ExternalIDField] = w.newest.delta.ExternalID
		recs[i] = r
	}
	out, err := u.combiner.upsert(ctx, b.open, recs, b.oldest(ws), b.inProgress, u.cfg.AckWait/3)
	b.open = nil // retries and bisection halves are due at once
	if err != nil {
		return ws, err
	}
	if len(out) != len(ws) {
		return ws, fmt.Errorf("upsert: %d results for %d records", len(out), len(ws))
	}
	var retry, refused []*write
	var refusals []conflict.Refusal
	for i, r := range out {
		w := ws[i]
		if r.Success {
			o := worker.Updated
			if r.Created {
				o = worker.Created
			}
			b.applied(w, o, r.ID)
			continue
		}
		e := salesforce.RecordError{StatusCode: salesforce.CodeUnknownError, Message: "record failed without an error"}
		if len(r.Errors) > 0 {
			e = r.Errors[0]
		}
		switch {
		case e.StatusCode == salesforce.CodeDuplicatesDetected || e.StatusCode == salesforce.CodeDuplicateExternalID:
			d := w.newest.delta
			d.Fields = w.fields
			refused = append(refused, w)
			refusals = append(refusals, conflict.Refusal{Delta: d, Err: e})
		case u.versionRefusal(e.StatusCode, e.Fields):
			b.superseded(w)
		case isTransient(salesforce.Classify(e.StatusCode, 0)):
			w.lastErr = e.StatusCode + ": " + e.Message
			retry = append(retry, w)
		default:
			b.fail(w, e.StatusCode, e.Message)
		}
	}
	if len(refusals) > 0 {
		r, err := b.resolve(ctx, refused, refusals)
		if err != nil {
			// The upsert itself went through; only the policy's calls
			// failed. Retry the refused records alone (bounded by
			// RecordRetryMaxElapsed, then the DLQ with this reason).
			b.log.Warn("conflict resolution failed; retrying the refused records",
				zap.String("error", telemetry.Redact(err.Error())), zap.Int("records", len(r)))
			for _, w := range r {
				w.lastErr = "conflict resolution: " + err.Error()
			}
		}
		retry = append(retry, r...)
	}
	return retry, nil
}

// resolve applies the conflict policy (per segment) to refused writes, in
// one resolver call for the whole batch.
func (b *batchRun) resolve(ctx context.Context, ws []*write, refusals []conflict.Refusal) ([]*write, error) {
	outs, err := b.u.d.Resolver.Resolve(ctx, refusals)
	if err == nil && len(outs) != len(refusals) {
		err = fmt.Errorf("conflict: %d outcomes for %d refusals", len(outs), len(refusals))
	}
	if err != nil {
		return ws, err
	}
	var retry []*write
	for j, o := range outs {
		w := ws[j]
		w.event = o.Event
		switch o.Outcome {
		case worker.Adopted:
			b.applied(w, worker.Adopted, o.ID)
		case worker.Rekeyed:
			b.applied(w, worker.Rekeyed, o.ID)
		case worker.Created:
			b.applied(w, worker.Created, o.ID)
		case worker.Held:
			b.hold(w)
		case worker.DeadLettered:
			code, msg := "CONFLICT_WRITE_FAILED", "conflict resolution failed"
			var ae *salesforce.APIError
			if errors.As(o.Err, &ae) && b.u.versionRefusal(ae.ErrorCode, ae.Fields) {
				w.event = nil // nothing was changed: no exception to raise
				b.superseded(w)
				continue
			}
			if o.Err != nil {
				code, msg = errorCode(o.Err), errorMessage(o.Err)
			}
			b.fail(w, code, msg)
		default: // worker.Retried
			w.event = nil
			if o.Err != nil {
				w.lastErr = o.Err.Error()
			}
			retry = append(retry, w)
		}
	}
	return retry, nil
}

// applied records a successful write: the newest delta gets the outcome,
// the older ones folded into it count as superseded (stale_skipped), and
// the contact's new state waits for settle.
func (b *batchRun) applied(w *write, o worker.Outcome, id string) {
	for _, it := range w.items {
		oc := worker.StaleSkipped
		if it.idx == w.newest.idx {
			oc = o
		}
		b.set(it.idx, oc, it.delta.Segment)
	}
	w.applied = &stored{contactState: contactState{ID: id, Version: w.version, Fingerprint: Fingerprint(w.fields)}, rev: w.rev}
}

// superseded records a write Salesforce refused because the contact already
// carries a newer Sync_Version__c: every delta of it is stale, and the
// fleet's state is left alone (the stored version is not known exactly).
func (b *batchRun) superseded(w *write) {
	for _, it := range w.items {
		b.set(it.idx, worker.StaleSkipped, it.delta.Segment)
	}
}

func (b *batchRun) hold(w *write) {
	for _, it := range w.items {
		b.set(it.idx, worker.Held, it.delta.Segment)
	}
}

func (b *batchRun) fail(w *write, code, msg string) {
	for _, it := range w.items {
		b.deadLetter(it.idx, it.delta.Segment, code, msg)
	}
}

func (b *batchRun) leavePending(w *write) {
	for _, it := range w.items {
		b.res[it.idx].Outcome = worker.Retried
	}
}

// versionRefusal reports whether a record error is the Sync_Version__c
// validation rule refusing an older version than the contact has: the
// rule's errorDisplayField names the version field. The error message is
// not matched, so an org may word (or translate) it as it likes.
func (u *Upserter) versionRefusal(code string, fields []string) bool {
	if u.cfg.VersionField == "" || code != salesforce.CodeFieldCustomValidationException {
		return false
	}
	for _, f := range fields {
		if strings.EqualFold(f, u.cfg.VersionField) {
			return true
		}
	}
	return false
}

func isTransient(c salesforce.Class) bool {
	return c == salesforce.ClassTransient || c == salesforce.ClassSession || c == salesforce.ClassLimit
}

func errorMessage(err error) string {
	var ae *salesforce.APIError
	if errors.As(err, &ae) && ae.Message != "" {
		return ae.Message
	}
	return err.Error()
}

func errorCode(err error) string {
	var ae *salesforce.APIError
	if errors.As(err, &ae) && ae.ErrorCode != "" {
		return ae.ErrorCode
	}
	return "REQUEST_FAILED"
}

func newBackoff() *backoff.ExponentialBackOff {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 200 * time.Millisecond
	bo.MaxInterval = 10 * time.Second
	bo.MaxElapsedTime = 0 // callers bound retries themselves
	bo.Reset()
	return bo
}

// callTimeout bounds one JetStream call (a read, a save, a publish): a
// node away must not hold a batch longer than that per attempt.
const callTimeout = 5 * time.Second

// retry calls f, each attempt with its own deadline, with backoff until it
// succeeds or ctx ends. A lost lease ends it at once.
func retry(ctx context.Context, log *zap.Logger, what string, f func(context.Context) error) error {
	bo := newBackoff()
	for {
		actx, cancel := context.WithTimeout(ctx, callTimeout)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		var perm *backoff.PermanentError
		if ctx.Err() != nil || errors.Is(err, fleet.ErrLeaseLost) || errors.Is(err, fleet.ErrLeaseExpired) || errors.As(err, &perm) {
			return err
		}
		if errors.Is(err, errStaleRead) {
			log.Debug(what+": replica behind; reading again", zap.Error(err))
		} else {
			log.Warn(what+" failed; retrying", zap.Error(err))
		}
		if !ctxsleep.Sleep(ctx, bo.NextBackOff()) {
			return ctx.Err()
		}
	}
}

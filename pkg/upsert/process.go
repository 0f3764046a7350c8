package upsert

import (
	"context"
	"encoding/json"
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
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/telemetry"
)

// result is the decision for one message of a batch.
type result struct {
	pending bool // no decision (shutdown mid-batch): leave for redelivery
	outcome Outcome
	segment string
	code    string // dead letter reason
	message string
}

// batchRun carries one batch through processing.
type batchRun struct {
	u        *Upserter
	p        int
	msgs     []jetstream.Msg
	res      []result
	newState map[string]contactState
	log      *zap.Logger
}

// process decides the outcome of every message of a batch. It returns when
// every message has a decision, or when ctx is cancelled (the undecided ones
// are left pending).
func (u *Upserter) process(ctx context.Context, p int, msgs []jetstream.Msg, log *zap.Logger) []result {
	b := &batchRun{u: u, p: p, msgs: msgs, res: make([]result, len(msgs)), newState: map[string]contactState{}, log: log}
	var items []item
	for i, m := range msgs {
		b.res[i] = result{pending: true, segment: bus.SegmentOf(m.Subject())}
		if md, err := m.Metadata(); err == nil && md.NumDelivered >= uint64(u.cfg.MaxDeliver) {
			b.res[i] = result{outcome: DeadLettered, segment: b.res[i].segment, code: "MAX_DELIVERIES",
				message: fmt.Sprintf("delivered %d times without completing (SYNC_MAX_DELIVER); check worker logs", md.NumDelivered)}
			continue
		}
		d, err := delta.Decode(m.Data())
		if err != nil {
			b.res[i] = result{outcome: DeadLettered, segment: b.res[i].segment, code: "INVALID_DELTA", message: err.Error()}
			continue
		}
		items = append(items, item{idx: i, delta: d, key: delta.Key(d.ExternalID)})
	}
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.key
	}
	var state map[string]contactState
	if err := retryForever(ctx, func() (err error) { state, err = u.state.load(ctx, p, keys); return err }, log, "read contact state"); err != nil {
		return b.res
	}
	writes, stale := fold(items, state)
	for _, it := range stale {
		b.res[it.idx] = result{outcome: StaleSkipped, segment: it.delta.Segment}
	}
	b.write(ctx, writes)
	b.publishEvents(ctx, writes)
	if len(b.newState) > 0 {
		if err := retryForever(ctx, func() error { return u.state.save(ctx, p, b.newState) }, log, "write contact state"); err != nil {
			for _, w := range writes { // not recorded: redeliver rather than risk applying an older version later
				b.leavePending(w)
			}
		}
	}
	return b.res
}

// write sends the writes, retrying transient failures, until each has an outcome.
func (b *batchRun) write(ctx context.Context, writes []*write) {
	u := b.u
	bo := newBackoff()
	start := time.Now()
	pending := writes
	for len(pending) > 0 {
		if err := u.d.Gate.Wait(ctx); err != nil {
			return
		}
		next, err := b.send(ctx, pending)
		if err != nil {
			if salesforce.ClassOf(err) == salesforce.ClassLimit {
				u.d.Gate.pause("Salesforce answered REQUEST_LIMIT_EXCEEDED")
				pending = next // what a bisected send settled stays settled
				continue
			}
			b.log.Warn("Salesforce request failed; retrying batch", zap.String("error", telemetry.MaskEmails(err.Error())), zap.Int("records", len(next)))
		}
		pending = next
		if len(pending) == 0 {
			return
		}
		if err == nil && time.Since(start) > u.cfg.RecordRetryMaxElapsed {
			for _, w := range pending {
				b.fail(w, "RETRIES_EXHAUSTED", "transient error persisted for "+u.cfg.RecordRetryMaxElapsed.String()+": "+w.lastErr)
			}
			return
		}
		u.d.Stats.retries.Add(1)
		if !sleepCtx(ctx, bo.NextBackOff()) {
			return
		}
		for _, w := range pending {
			for _, it := range w.items {
				_ = b.msgs[it.idx].InProgress()
			}
		}
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
	out, err := u.d.Salesforce.UpsertCollection(ctx, u.cfg.Object, u.cfg.ExternalIDField, recs, salesforce.WriteOptions{})
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
			o := Updated
			if r.Created {
				o = Created
			}
			b.settle(w, o, r.ID)
			continue
		}
		e := salesforce.RecordError{StatusCode: "UNKNOWN_ERROR", Message: "record failed without an error"}
		if len(r.Errors) > 0 {
			e = r.Errors[0]
		}
		switch {
		case e.StatusCode == "DUPLICATES_DETECTED" || e.StatusCode == "DUPLICATE_EXTERNAL_ID":
			d := w.newest.delta
			d.Fields = w.fields
			refused = append(refused, w)
			refusals = append(refusals, conflict.Refusal{Delta: d, Err: e})
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
				zap.String("error", telemetry.MaskEmails(err.Error())), zap.Int("records", len(r)))
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
		switch o.Action {
		case conflict.ActionAdopted:
			b.settle(w, Adopted, o.ID)
		case conflict.ActionRekeyed:
			b.settle(w, Rekeyed, o.ID)
		case conflict.ActionCreated:
			b.settle(w, Created, o.ID)
		case conflict.ActionHeld:
			b.hold(w)
		case conflict.ActionDeadLetter:
			code, msg := "CONFLICT_WRITE_FAILED", "conflict resolution failed"
			if o.Err != nil {
				code, msg = errorCode(o.Err), errorMessage(o.Err)
			}
			b.fail(w, code, msg)
		default: // conflict.ActionRetry
			w.event = nil
			if o.Err != nil {
				w.lastErr = o.Err.Error()
			}
			retry = append(retry, w)
		}
	}
	return retry, nil
}

// publishEvents sends the conflict events of settled writes to CONFLICTS
// before their messages are acked; a write whose event cannot be published is
// left for redelivery (the event key makes the retry idempotent).
func (b *batchRun) publishEvents(ctx context.Context, writes []*write) {
	for _, w := range writes {
		if w.event == nil || b.res[w.newest.idx].pending {
			continue
		}
		ev := w.event
		err := b.u.publishWithRetry(ctx, func(ctx context.Context) error {
			data, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			_, err = b.u.js.Publish(ctx, bus.ConflictSubject(ev.Segment), data,
				jetstream.WithMsgID(fmt.Sprintf("conflict:%s:%d", ev.Key(), ev.SourceVersion)))
			return err
		})
		if err != nil {
			b.log.Error("conflict event not published; leaving delta for redelivery", zap.Error(err))
			b.leavePending(w)
			continue
		}
		b.u.d.Stats.conflicts.Add(1)
	}
}

// settle records a successful write: the newest delta gets the outcome, the
// older ones folded into it count as superseded (stale_skipped).
func (b *batchRun) settle(w *write, o Outcome, id string) {
	for _, it := range w.items {
		oc := StaleSkipped
		if it.idx == w.newest.idx {
			oc = o
		}
		b.res[it.idx] = result{outcome: oc, segment: it.delta.Segment}
		b.newState[it.key] = contactState{ID: id, Version: it.delta.Version}
	}
}

func (b *batchRun) hold(w *write) {
	for _, it := range w.items {
		b.res[it.idx] = result{outcome: Held, segment: it.delta.Segment}
	}
}

func (b *batchRun) fail(w *write, code, msg string) {
	for _, it := range w.items {
		b.res[it.idx] = result{outcome: DeadLettered, segment: it.delta.Segment, code: code, message: msg}
	}
}

func (b *batchRun) leavePending(w *write) {
	for _, it := range w.items {
		b.res[it.idx].pending = true
	}
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

// retryForever retries f with backoff until it succeeds or ctx ends.
func retryForever(ctx context.Context, f func() error, log *zap.Logger, what string) error {
	bo := newBackoff()
	for {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn(what+" failed; retrying", zap.Error(err))
		if !sleepCtx(ctx, bo.NextBackOff()) {
			return ctx.Err()
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

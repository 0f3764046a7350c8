package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/delta"
)

// DeadLetter is one message of the DLQ stream, with its reason decoded from
// the Cs-* headers bus.PublishDeadLetter writes.
type DeadLetter struct {
	Seq         uint64      `json:"seq"` // sequence in DLQ
	Segment     string      `json:"segment"`
	ExternalID  string      `json:"external_id"`
	ErrorCode   string      `json:"error_code"`
	Message     string      `json:"message"`
	FailedAt    time.Time   `json:"failed_at"`
	Deliveries  uint64      `json:"deliveries"`
	OrigSubject string      `json:"orig_subject"`      // where a replay publishes
	OrigSeq     uint64      `json:"orig_seq,omitzero"` // sequence in CONTACTS
	Stored      time.Time   `json:"stored"`            // when the DLQ stored it
	Header      nats.Header `json:"headers,omitempty"`
	Data        []byte      `json:"-"` // nil when listed (headers only)
}

func deadLetterOf(r record) DeadLetter {
	h := r.Header
	dl := DeadLetter{
		Seq: r.Seq, Segment: bus.SegmentOf(r.Subject), ExternalID: h.Get(delta.HeaderExternalID),
		ErrorCode: h.Get(bus.HeaderErrorCode), Message: h.Get(bus.HeaderErrorMessage),
		OrigSubject: h.Get(bus.HeaderOrigSubject), Stored: r.Time, Header: h, Data: r.Data,
	}
	dl.Deliveries, _ = strconv.ParseUint(h.Get(bus.HeaderDeliveries), 10, 64)
	dl.OrigSeq, _ = strconv.ParseUint(h.Get(bus.HeaderOrigSeq), 10, 64)
	if t, err := time.Parse(time.RFC3339Nano, h.Get(bus.HeaderFailedAt)); err == nil {
		dl.FailedAt = t
	} else {
		dl.FailedAt = r.Time
	}
	return dl
}

// DLQFilter selects dead letters. The zero value selects all.
type DLQFilter struct {
	Segment   string        // "" = every segment
	Code      string        // Cs-Error-Code, exact; "" = any
	Seqs      []uint64      // only these DLQ sequences; nil = any
	OlderThan time.Duration // failed at least this long ago; 0 = any age
	Limit     int           // at most this many; 0 = no limit
}

func (f DLQFilter) validate() error {
	if err := checkSegment(f.Segment, false); err != nil {
		return err
	}
	if f.Limit < 0 {
		return fmt.Errorf("%w: limit %d: want >= 0", ErrInvalid, f.Limit)
	}
	if f.OlderThan < 0 {
		return fmt.Errorf("%w: older-than %v: want >= 0", ErrInvalid, f.OlderThan)
	}
	return nil
}

func (f DLQFilter) match(dl DeadLetter, now time.Time) bool {
	return (f.Segment == "" || dl.Segment == f.Segment) &&
		(f.Code == "" || dl.ErrorCode == f.Code) &&
		(f.OlderThan == 0 || !dl.FailedAt.After(now.Add(-f.OlderThan)))
}

func (f DLQFilter) subject() string {
	if f.Segment == "" {
		return bus.DLQSubjects
	}
	return bus.DLQSubject(f.Segment)
}

// ListDeadLetters returns the dead letters matching f in DLQ order. With
// withData false only headers are read (Data is nil).
func (o *Ops) ListDeadLetters(ctx context.Context, f DLQFilter, withData bool) ([]DeadLetter, error) {
	dls, _, err := o.list(ctx, f, withData)
	return dls, err
}

// list is ListDeadLetters that also returns the sequences of f.Seqs that
// hold no dead letter (already replayed or purged).
func (o *Ops) list(ctx context.Context, f DLQFilter, withData bool) (out []DeadLetter, missing []uint64, err error) {
	if err := f.validate(); err != nil {
		return nil, nil, err
	}
	now := o.now()
	if len(f.Seqs) > 0 {
		seqs := slices.Clone(f.Seqs)
		slices.Sort(seqs)
		for _, seq := range slices.Compact(seqs) {
			dl, err := o.DeadLetter(ctx, seq)
			if errors.Is(err, ErrNotFound) {
				missing = append(missing, seq)
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			if !f.match(dl, now) {
				continue
			}
			if !withData {
				dl.Data = nil
			}
			out = append(out, dl)
			if f.Limit > 0 && len(out) == f.Limit {
				break
			}
		}
		return out, missing, nil
	}
	err = scan(ctx, o.js, bus.StreamDLQ, f.subject(), scanFrom{}, !withData, func(r record) error {
		dl := deadLetterOf(r)
		if !withData {
			dl.Header.Del("Nats-Msg-Size")
			dl.Data = nil
		}
		if !f.match(dl, now) {
			return nil
		}
		out = append(out, dl)
		if f.Limit > 0 && len(out) == f.Limit {
			return errStop
		}
		return nil
	})
	return out, nil, err
}

// ErrNotFound is returned for a DLQ sequence that holds no message.
var ErrNotFound = errors.New("not found")

// DeadLetter reads one dead letter, payload included, by DLQ sequence.
func (o *Ops) DeadLetter(ctx context.Context, seq uint64) (DeadLetter, error) {
	s, err := o.js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("stream %s: %w", bus.StreamDLQ, err)
	}
	m, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w (replayed, purged or aged out?)", seq, ErrNotFound)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	return deadLetterOf(record{Seq: m.Sequence, Subject: m.Subject, Time: m.Time, Header: m.Header, Data: m.Data}), nil
}

// ReplayOptions selects dead letters to replay and how.
type ReplayOptions struct {
	DLQFilter
	Ticket string // required; part of every Nats-Msg-Id
	DryRun bool   // report what would be replayed, publish nothing
	Keep   bool   // leave replayed dead letters in the DLQ
	// Force replays dead letters that failed again after a replay under
	// this same ticket for the same cause (refused otherwise: the cause
	// was not fixed).
	Force bool
	// Wait, when > 0, is how long to wait after publishing for each
	// replayed delta's outcome: applied (contact state reached its
	// version) or failed again (a new dead letter carrying this ticket and
	// Cs-Replay-Of). What has no outcome by then is reported as such.
	Wait time.Duration
}

// ReplayItem is the outcome of one dead letter.
type ReplayItem struct {
	Seq        uint64 `json:"seq"`
	Subject    string `json:"subject"`
	ExternalID string `json:"external_id"`
	Outcome    string `json:"outcome"` // replayed | duplicate | would_replay | skipped | refused
	Reason     string `json:"reason,omitempty"`
	Stream     string `json:"stream,omitempty"`    // CONTACTS (a delta) or CONFLICTS (a conflict event)
	StreamSeq  uint64 `json:"stream_seq,omitzero"` // where Stream stored it
	// After is what became of a replayed delta (ReplayOptions.Wait):
	// applied | superseded (state holds a newer version) | failed_again |
	// no_outcome. A replayed conflict event is applied once every
	// consumer of CONFLICTS (the reconcilers) has settled it without a new
	// dead letter: its exception record is written.
	After string `json:"after,omitempty"`
	// The new dead letter of a delta that failed again.
	NewSeq     uint64 `json:"new_dlq_seq,omitzero"`
	NewCode    string `json:"new_error_code,omitempty"`
	NewMessage string `json:"new_error_message,omitempty"`

	key     string // contact key, for the wait
	version int64
}

// ReplayResult counts a replay's outcomes.
type ReplayResult struct {
	Matched    int `json:"matched"`
	Replayed   int `json:"replayed"`   // newly stored in CONTACTS
	Duplicates int `json:"duplicates"` // already stored under this ticket
	Skipped    int `json:"skipped"`    // not replayable (no original subject)
	// FailedAgain counts dead letters that are a delta replayed before
	// (under any ticket) which failed again; Refused those of them replayed
	// under this same ticket, left in the DLQ unless Force.
	FailedAgain int `json:"failed_again"`
	Refused     int `json:"refused"`
	Deleted     int `json:"deleted"` // removed from the DLQ
	// After a wait (ReplayOptions.Wait): replayed deltas applied, failed
	// again (dead-lettered anew) and without an outcome yet.
	Applied     int          `json:"applied_after_replay"`
	FailedAfter int          `json:"failed_again_after_replay"`
	NoOutcome   int          `json:"no_outcome_after_replay"`
	Waited      bool         `json:"waited"`
	Items       []ReplayItem `json:"items"`
}

// Replay republishes each matching dead letter to its original subject
// (contacts.delta.<segment>.<key>) with Nats-Msg-Id replay:<ticket>:<dlq
// seq>, then deletes it from the DLQ unless Keep. Running the same replay
// again stores nothing new: the deleted messages are gone, and kept ones are
// deduplicated within the CONTACTS duplicate window.
func (o *Ops) Replay(ctx context.Context, opts ReplayOptions) (ReplayResult, error) {
	var res ReplayResult
	if err := checkTicket(opts.Ticket); err != nil {
		return res, err
	}
	dls, missing, err := o.list(ctx, opts.DLQFilter, true)
	if err != nil {
		return res, err
	}
	for _, seq := range missing {
		res.Skipped++
		res.Items = append(res.Items, ReplayItem{Seq: seq, Outcome: "skipped", Reason: "not in the DLQ (already replayed, purged or aged out)"})
	}
	dlq, err := o.js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		return res, fmt.Errorf("stream %s: %w", bus.StreamDLQ, err)
	}
	res.Matched = len(dls)
	var dlqLast uint64
	if opts.Wait > 0 {
		info, err := dlq.Info(ctx)
		if err != nil {
			return res, fmt.Errorf("stream %s: %w", bus.StreamDLQ, err)
		}
		dlqLast = info.State.LastSeq
	}
	for _, dl := range dls {
		item := ReplayItem{Seq: dl.Seq, ExternalID: dl.ExternalID}
		subj, stream, reason := replaySubject(dl)
		item.Subject, item.Stream = subj, stream
		prev := dl.Header.Get(HeaderReplayTicket)
		unchanged := causeUnchanged(dl)
		if prev != "" {
			res.FailedAgain++
			item.Reason = fmt.Sprintf("failed again (%s) after replay under ticket %s", dl.ErrorCode, prev)
			if !unchanged {
				item.Reason += fmt.Sprintf(", with a new cause (was %s)", dl.Header.Get(HeaderReplayCauseCode))
			}
		}
		switch {
		case reason != "":
			item.Outcome, item.Reason = "skipped", reason
			res.Skipped++
		case prev == opts.Ticket && unchanged && !opts.Force:
			item.Outcome = "refused"
			item.Reason = fmt.Sprintf("failed again with the same code (%s) after replay under this ticket: fix the cause, then replay under a new ticket, or --force", dl.ErrorCode)
			res.Refused++
		case opts.DryRun:
			item.Outcome = "would_replay"
		default:
			ack, err := o.js.PublishMsg(ctx, replayMsg(subj, dl, opts.Ticket),
				jetstream.WithMsgID(fmt.Sprintf("replay:%s:%d", opts.Ticket, dl.Seq)),
				jetstream.WithExpectStream(stream))
			if err != nil {
				return res, fmt.Errorf("replay dead letter %d to %s: %w", dl.Seq, subj, err)
			}
			item.StreamSeq = ack.Sequence
			if stream == bus.StreamContacts {
				item.key, item.version = delta.ContactKey(dl.ExternalID), payloadVersion(dl.Data)
			}
			if ack.Duplicate {
				item.Outcome = "duplicate"
				res.Duplicates++
			} else {
				item.Outcome = "replayed"
				res.Replayed++
			}
			if !opts.Keep {
				if err := dlq.DeleteMsg(ctx, dl.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
					return res, fmt.Errorf("delete replayed dead letter %d: %w", dl.Seq, err)
				}
				res.Deleted++
			}
			o.log.Info("dead letter replayed", zap.Uint64("dlq_seq", dl.Seq), zap.String("segment", dl.Segment),
				zap.String("outcome", item.Outcome), zap.String("ticket", opts.Ticket))
		}
		res.Items = append(res.Items, item)
	}
	if opts.Wait > 0 && res.Replayed+res.Duplicates > 0 {
		if err := o.awaitReplays(ctx, &res, opts.Ticket, dlqLast, opts.Wait); err != nil {
			return res, err
		}
	}
	return res, nil
}

// causeUnchanged reports whether a dead letter that failed again after a
// replay failed for the cause it was replayed with: the same error code.
// Messages are not compared: they quote redacted values and differ between
// Salesforce releases for one cause. One replayed before the cause was
// recorded counts as unchanged.
func causeUnchanged(dl DeadLetter) bool {
	code := dl.Header.Get(HeaderReplayCauseCode)
	return code == "" || code == dl.ErrorCode
}

// awaitReplays waits up to wait for each replayed delta's outcome: a new
// dead letter (after dlqLast) carrying ticket and Cs-Replay-Of DLQ:<seq>,
// or contact state at or past its version. It polls; nothing is consumed.
func (o *Ops) awaitReplays(ctx context.Context, res *ReplayResult, ticket string, dlqLast uint64, wait time.Duration) error {
	res.Waited = true
	kv, err := o.js.KeyValue(ctx, bus.BucketState)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bus.BucketState, err)
	}
	open := map[string]*ReplayItem{} // by Cs-Replay-Of
	for i := range res.Items {
		it := &res.Items[i]
		if it.Outcome == "replayed" || it.Outcome == "duplicate" {
			open["DLQ:"+strconv.FormatUint(it.Seq, 10)] = it
		}
	}
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	from := dlqLast + 1
	for len(open) > 0 {
		// Read how far the reconcilers have settled CONFLICTS before
		// looking for new dead letters: a dead letter is stored before its
		// event is settled, so an event settled by then without one was
		// written.
		floor, err := o.conflictsSettled(ctx)
		if err != nil {
			return err
		}
		err = scan(ctx, o.js, bus.StreamDLQ, bus.DLQSubjects, scanFrom{Seq: from}, true, func(r record) error {
			from = r.Seq + 1
			it := open[r.Header.Get(HeaderReplayOf)]
			if it == nil || r.Header.Get(HeaderReplayTicket) != ticket {
				return nil
			}
			it.After, it.NewSeq = "failed_again", r.Seq
			it.NewCode, it.NewMessage = r.Header.Get(bus.HeaderErrorCode), maskText(r.Header.Get(bus.HeaderErrorMessage))
			res.FailedAfter++
			delete(open, r.Header.Get(HeaderReplayOf))
			return nil
		})
		if err != nil {
			return err
		}
		for of, it := range open {
			if it.Stream == bus.StreamConflicts {
				if floor >= it.StreamSeq {
					it.After = "applied"
					res.Applied++
					delete(open, of)
				}
				continue
			}
			e, err := kv.Get(ctx, it.key)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read the contact state: %w", err)
			}
			var st struct {
				Version int64 `json:"v"`
			}
			if json.Unmarshal(e.Value(), &st) != nil || st.Version < it.version {
				continue
			}
			it.After = "applied"
			if st.Version > it.version {
				it.After = "superseded"
			}
			res.Applied++
			delete(open, of)
		}
		if len(open) == 0 || !time.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	for _, it := range open {
		it.After = "no_outcome"
		res.NoOutcome++
	}
	return nil
}

// conflictsSettled is the CONFLICTS sequence up to which every consumer
// (each reconciler group) has settled the stream: the lowest ack floor; 0
// when there is no consumer.
func (o *Ops) conflictsSettled(ctx context.Context) (uint64, error) {
	st, err := o.js.Stream(ctx, bus.StreamConflicts)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", bus.StreamConflicts, err)
	}
	var floor uint64
	first := true
	l := st.ListConsumers(ctx)
	for ci := range l.Info() {
		if first || ci.AckFloor.Stream < floor {
			floor, first = ci.AckFloor.Stream, false
		}
	}
	if err := l.Err(); err != nil {
		return 0, fmt.Errorf("consumers of %s: %w", bus.StreamConflicts, err)
	}
	return floor, nil
}

// replaySubject is the subject and stream to republish dl to, or why it
// cannot be: a delta goes back to CONTACTS (contacts.delta.<segment>.<key>),
// a conflict event the reconciler gave up on to CONFLICTS
// (contacts.conflict.<segment>), for the reconciler to write its exception
// record once the cause is fixed.
func replaySubject(dl DeadLetter) (subject, stream, reason string) {
	subj := bus.OriginalSubject(dl.OrigSubject) // a stored subject is accepted too
	if subj == "" {
		return "", "", "no " + bus.HeaderOrigSubject + " header"
	}
	toks := strings.Split(subj, ".")
	switch {
	case strings.ContainsAny(subj, "*> ") || slices.Contains(toks, ""):
	case len(toks) == 4 && toks[0] == "contacts" && toks[1] == "delta":
		return subj, bus.StreamContacts, ""
	case len(toks) == 3 && subj == bus.ConflictSubject(toks[2]):
		return subj, bus.StreamConflicts, ""
	}
	return "", "", fmt.Sprintf("%s %q is neither a delta nor a conflict subject", bus.HeaderOrigSubject, dl.OrigSubject)
}

// replayMsg carries the producer's headers (Cs-External-Id, …) but none of
// the dead-letter bookkeeping, which would mislead the next failure.
func replayMsg(subject string, dl DeadLetter, ticket string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = dl.Data
	for k, vs := range dl.Header {
		if isBookkeeping(k) {
			continue
		}
		m.Header[k] = slices.Clone(vs)
	}
	m.Header.Set(HeaderReplayTicket, ticket)
	m.Header.Set(HeaderReplayOf, "DLQ:"+strconv.FormatUint(dl.Seq, 10))
	// The cause it is replayed with travels along, so a dead letter that
	// fails again tells whether the cause changed since.
	m.Header.Set(HeaderReplayCauseCode, dl.ErrorCode)
	m.Header.Set(HeaderReplayCauseMessage, dl.Message)
	return m
}

// Headers added to republished messages, for tracing.
const (
	HeaderReplayTicket = "Cs-Replay-Ticket" // the ticket of the replay or backfill
	HeaderReplayOf     = "Cs-Replay-Of"     // <stream>:<seq> of the message republished
	// The dead letter's Cs-Error-Code and Cs-Error-Message when it was
	// replayed.
	HeaderReplayCauseCode    = "Cs-Replay-Cause-Code"
	HeaderReplayCauseMessage = "Cs-Replay-Cause-Message"
)

func isBookkeeping(k string) bool {
	if strings.HasPrefix(strings.ToLower(k), "nats-") {
		return true
	}
	for _, b := range []string{bus.HeaderOrigSubject, bus.HeaderOrigStream, bus.HeaderOrigSeq, bus.HeaderErrorCode,
		bus.HeaderErrorMessage, bus.HeaderDeliveries, bus.HeaderFailedAt, HeaderReplayTicket, HeaderReplayOf,
		HeaderReplayCauseCode, HeaderReplayCauseMessage} {
		if strings.EqualFold(k, b) {
			return true
		}
	}
	return false
}

// PurgeResult lists what a purge removed (or would remove).
type PurgeResult struct {
	Matched int          `json:"matched"`
	Deleted int          `json:"deleted"`
	Items   []DeadLetter `json:"items"`
}

// PurgeDeadLetters deletes the dead letters matching f; with dryRun it only
// lists them.
func (o *Ops) PurgeDeadLetters(ctx context.Context, f DLQFilter, dryRun bool) (PurgeResult, error) {
	var res PurgeResult
	dls, err := o.ListDeadLetters(ctx, f, false)
	if err != nil {
		return res, err
	}
	res.Matched, res.Items = len(dls), dls
	if dryRun {
		return res, nil
	}
	s, err := o.js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		return res, fmt.Errorf("stream %s: %w", bus.StreamDLQ, err)
	}
	for _, dl := range dls {
		if err := s.DeleteMsg(ctx, dl.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return res, fmt.Errorf("delete dead letter %d: %w", dl.Seq, err)
		}
		res.Deleted++
	}
	o.log.Info("dead letters purged", zap.String("segment", f.Segment), zap.String("code", f.Code), zap.Int("deleted", res.Deleted))
	return res, nil
}

package ops

import (
	"context"
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
	// this same ticket (refused otherwise: the cause was not fixed).
	Force bool
}

// ReplayItem is the outcome of one dead letter.
type ReplayItem struct {
	Seq        uint64 `json:"seq"`
	Subject    string `json:"subject"`
	ExternalID string `json:"external_id"`
	Outcome    string `json:"outcome"` // replayed | duplicate | would_replay | skipped | refused
	Reason     string `json:"reason,omitempty"`
	StreamSeq  uint64 `json:"stream_seq,omitzero"` // where CONTACTS stored it
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
	FailedAgain int          `json:"failed_again"`
	Refused     int          `json:"refused"`
	Deleted     int          `json:"deleted"` // removed from the DLQ
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
	for _, dl := range dls {
		item := ReplayItem{Seq: dl.Seq, ExternalID: dl.ExternalID}
		subj, reason := replaySubject(dl)
		item.Subject = subj
		prev := dl.Header.Get(HeaderReplayTicket)
		if prev != "" {
			res.FailedAgain++
			item.Reason = fmt.Sprintf("failed again (%s) after replay under ticket %s", dl.ErrorCode, prev)
		}
		switch {
		case reason != "":
			item.Outcome, item.Reason = "skipped", reason
			res.Skipped++
		case prev == opts.Ticket && !opts.Force:
			item.Outcome = "refused"
			item.Reason = fmt.Sprintf("failed again (%s) after replay under this ticket: fix the cause, then replay under a new ticket, or --force", dl.ErrorCode)
			res.Refused++
		case opts.DryRun:
			item.Outcome = "would_replay"
		default:
			ack, err := o.js.PublishMsg(ctx, replayMsg(subj, dl, opts.Ticket),
				jetstream.WithMsgID(fmt.Sprintf("replay:%s:%d", opts.Ticket, dl.Seq)),
				jetstream.WithExpectStream(bus.StreamContacts))
			if err != nil {
				return res, fmt.Errorf("replay dead letter %d to %s: %w", dl.Seq, subj, err)
			}
			item.StreamSeq = ack.Sequence
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
	return res, nil
}

// replaySubject is the subject to republish dl to, or why it cannot be.
func replaySubject(dl DeadLetter) (string, string) {
	subj := bus.OriginalSubject(dl.OrigSubject) // a stored subject is accepted too
	if subj == "" {
		return "", "no " + bus.HeaderOrigSubject + " header"
	}
	toks := strings.Split(subj, ".")
	if len(toks) != 4 || toks[0] != "contacts" || toks[1] != "delta" || toks[2] == "" || toks[3] == "" ||
		strings.ContainsAny(subj, "*> ") {
		return "", fmt.Sprintf("%s %q is not a delta subject", bus.HeaderOrigSubject, dl.OrigSubject)
	}
	return subj, ""
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
	return m
}

// Headers added to republished messages, for tracing.
const (
	HeaderReplayTicket = "Cs-Replay-Ticket" // the ticket of the replay or backfill
	HeaderReplayOf     = "Cs-Replay-Of"     // <stream>:<seq> of the message republished
)

func isBookkeeping(k string) bool {
	if strings.HasPrefix(strings.ToLower(k), "nats-") {
		return true
	}
	for _, b := range []string{bus.HeaderOrigSubject, bus.HeaderOrigStream, bus.HeaderOrigSeq, bus.HeaderErrorCode,
		bus.HeaderErrorMessage, bus.HeaderDeliveries, bus.HeaderFailedAt, HeaderReplayTicket, HeaderReplayOf} {
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

package ops

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/delta"
)

// BackfillOptions configures a segment backfill.
type BackfillOptions struct {
	Segment  string    // required
	Ticket   string    // required; part of every Nats-Msg-Id
	Since    time.Time // start at the first delta stored at or after Since; zero = the start of the stream
	SinceSeq uint64    // or start at this CONTACTS sequence (wins over Since)
	Rate     float64   // deltas per second; 0 = unlimited
	DryRun   bool      // count what would be republished, publish nothing
	// Progress, when set, is called about every ProgressEvery (default 1s)
	// and once at the end.
	Progress      func(BackfillResult)
	ProgressEvery time.Duration
}

func (o BackfillOptions) validate() error {
	if err := checkSegment(o.Segment, true); err != nil {
		return err
	}
	if err := checkTicket(o.Ticket); err != nil {
		return err
	}
	if o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) {
		return fmt.Errorf("%w: rate %v: want >= 0 (0 = unlimited)", ErrInvalid, o.Rate)
	}
	return nil
}

// BackfillResult counts a backfill's progress and outcome.
type BackfillResult struct {
	Segment      string        `json:"segment"`
	Ticket       string        `json:"ticket"`
	Read         int           `json:"read"`                    // deltas read (stream) or lines read (file)
	Published    int           `json:"published"`               // newly stored in CONTACTS
	Duplicates   int           `json:"duplicates"`              // already stored under this ticket
	Skipped      int           `json:"skipped"`                 // this ticket's own earlier copies
	WouldPublish int           `json:"would_publish,omitempty"` // dry run
	Rejected     []LineError   `json:"rejected,omitempty"`      // file: lines refused
	FirstSeq     uint64        `json:"first_seq,omitzero"`
	LastSeq      uint64        `json:"last_seq,omitzero"`
	Elapsed      time.Duration `json:"elapsed_ns"`
	DryRun       bool          `json:"dry_run,omitempty"`
}

// LineError is a line of a backfill file that was refused.
type LineError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// ErrRejected is returned (wrapped) by BackfillFile when lines were refused;
// the good lines are published all the same.
var ErrRejected = cli.ErrRejected

// publishWindow bounds asynchronous publishes awaiting their ack.
const publishWindow = 256

// backfiller republishes at a rate, counting outcomes.
type backfiller struct {
	o       *Ops
	opts    BackfillOptions
	lim     *rate.Limiter
	res     BackfillResult
	start   time.Time
	lastRep time.Time
	pending []jetstream.PubAckFuture
}

func (o *Ops) newBackfiller(opts BackfillOptions) *backfiller {
	b := &backfiller{o: o, opts: opts, start: o.now()}
	b.lastRep = b.start
	b.res.Segment, b.res.Ticket, b.res.DryRun = opts.Segment, opts.Ticket, opts.DryRun
	if opts.Rate > 0 {
		burst := max(1, int(opts.Rate/10))
		b.lim = rate.NewLimiter(rate.Limit(opts.Rate), burst)
	}
	if b.opts.ProgressEvery <= 0 {
		b.opts.ProgressEvery = time.Second
	}
	return b
}

func (b *backfiller) publish(ctx context.Context, m *nats.Msg, msgID string) error {
	if b.opts.DryRun {
		b.res.WouldPublish++
		b.tick()
		return nil
	}
	if b.lim != nil {
		if err := b.lim.Wait(ctx); err != nil {
			return err
		}
	}
	f, err := b.o.js.PublishMsgAsync(m, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(bus.StreamContacts))
	if err != nil {
		return fmt.Errorf("backfill publish to %s: %w", m.Subject, err)
	}
	b.pending = append(b.pending, f)
	if len(b.pending) >= publishWindow {
		if err := b.flush(ctx); err != nil {
			return err
		}
	}
	b.tick()
	return nil
}

// flush waits for every outstanding publish and counts it.
func (b *backfiller) flush(ctx context.Context) error {
	for _, f := range b.pending {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				b.res.Duplicates++
			} else {
				b.res.Published++
			}
		case err := <-f.Err():
			b.pending = nil
			return fmt.Errorf("backfill publish to %s: %w", f.Msg().Subject, err)
		case <-ctx.Done():
			b.pending = nil
			return ctx.Err()
		}
	}
	b.pending = b.pending[:0]
	return nil
}

func (b *backfiller) tick() {
	if b.opts.Progress == nil {
		return
	}
	if now := b.o.now(); now.Sub(b.lastRep) >= b.opts.ProgressEvery {
		b.lastRep = now
		r := b.res
		r.Elapsed = now.Sub(b.start)
		b.opts.Progress(r)
	}
}

func (b *backfiller) finish(ctx context.Context) (BackfillResult, error) {
	err := b.flush(ctx)
	b.res.Elapsed = b.o.now().Sub(b.start)
	if b.opts.Progress != nil {
		b.opts.Progress(b.res)
	}
	b.o.log.Info("backfill finished", zap.String("segment", b.res.Segment), zap.String("ticket", b.res.Ticket),
		zap.Int("read", b.res.Read), zap.Int("published", b.res.Published), zap.Int("duplicates", b.res.Duplicates),
		zap.Int("rejected", len(b.res.Rejected)), zap.Bool("dry_run", b.res.DryRun))
	return b.res, err
}

// Backfill re-drives a segment from CONTACTS history: every delta stored on
// contacts.delta.<segment>.*.* from the start position up to the stream's
// end when the backfill began is republished to its original subject with
// Nats-Msg-Id backfill:<ticket>:<stream seq>. The upserter skips deltas not
// newer than what it applied, so a backfill converges; the same ticket run
// again within the duplicate window stores nothing new, and after it skips
// the copies the first run made.
func (o *Ops) Backfill(ctx context.Context, opts BackfillOptions) (BackfillResult, error) {
	if err := opts.validate(); err != nil {
		return BackfillResult{}, err
	}
	b := o.newBackfiller(opts)
	ownPrefix := "backfill:" + opts.Ticket + ":"
	filter := "contacts.delta." + opts.Segment + ".*.*"
	err := scan(ctx, o.js, bus.StreamContacts, filter, scanFrom{Seq: opts.SinceSeq, Time: opts.Since}, false, func(r record) error {
		b.res.Read++
		if b.res.FirstSeq == 0 {
			b.res.FirstSeq = r.Seq
		}
		b.res.LastSeq = r.Seq
		if strings.HasPrefix(r.Header.Get(jetstream.MsgIDHeader), ownPrefix) {
			b.res.Skipped++ // a copy this ticket already made
			b.tick()
			return nil
		}
		m := nats.NewMsg(bus.OriginalSubject(r.Subject))
		m.Data = r.Data
		for k, vs := range r.Header {
			if !isBookkeeping(k) {
				m.Header[k] = slices.Clone(vs)
			}
		}
		m.Header.Set(HeaderReplayTicket, opts.Ticket)
		m.Header.Set(HeaderReplayOf, bus.StreamContacts+":"+strconv.FormatUint(r.Seq, 10))
		return b.publish(ctx, m, ownPrefix+strconv.FormatUint(r.Seq, 10))
	})
	res, ferr := b.finish(ctx)
	return res, errors.Join(err, ferr)
}

// maxLine bounds one NDJSON line of a backfill file.
const maxLine = 1 << 20

// BackfillFile publishes the NDJSON deltas read from r (one delta per line,
// from the source system) for opts.Segment; Since and SinceSeq are ignored.
// A line that is not a valid delta or belongs to another segment is refused
// with its line number, and the others are published all the same; the
// error then wraps ErrRejected. Each delta's Nats-Msg-Id is
// backfill:<ticket>:<external_id>:<version>, so the same file under the same
// ticket stores nothing twice within the duplicate window.
func (o *Ops) BackfillFile(ctx context.Context, r io.Reader, opts BackfillOptions) (BackfillResult, error) {
	if err := opts.validate(); err != nil {
		return BackfillResult{}, err
	}
	b := o.newBackfiller(opts)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	line := 0
	var err error
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 || raw[0] == '#' {
			continue
		}
		b.res.Read++
		d, derr := delta.Decode(raw)
		switch {
		case derr != nil:
			b.res.Rejected = append(b.res.Rejected, LineError{Line: line, Reason: derr.Error()})
			continue
		case d.Segment != opts.Segment:
			b.res.Rejected = append(b.res.Rejected, LineError{Line: line,
				Reason: fmt.Sprintf("segment: %q, but this backfill is for segment %q", d.Segment, opts.Segment)})
			continue
		}
		m := nats.NewMsg(d.Subject())
		m.Data = slices.Clone(raw)
		m.Header.Set(delta.HeaderExternalID, d.ExternalID)
		m.Header.Set(HeaderReplayTicket, opts.Ticket)
		if err = b.publish(ctx, m, "backfill:"+opts.Ticket+":"+d.MsgID()); err != nil {
			break
		}
	}
	if err == nil {
		if serr := sc.Err(); serr != nil {
			err = fmt.Errorf("read line %d: %w", line+1, serr)
		}
	}
	res, ferr := b.finish(ctx)
	if err = errors.Join(err, ferr); err != nil {
		return res, err
	}
	if len(res.Rejected) > 0 {
		return res, fmt.Errorf("%w: %d of %d lines", ErrRejected, len(res.Rejected), res.Read)
	}
	return res, nil
}

// unknownSegment explains a history backfill that found nothing: an error
// naming the segments CONTACTS holds when it holds none of segment's
// deltas (a typo in --segment is not a silent success), else nil.
func (o *Ops) unknownSegment(ctx context.Context, segment string) error {
	counts, err := o.countBySegment(ctx, bus.StreamContacts, "contacts.delta.>")
	if err != nil || counts[segment] > 0 {
		return nil
	}
	known := slices.Sorted(maps.Keys(counts))
	if len(known) == 0 {
		return fmt.Errorf("--segment %s: CONTACTS holds no deltas at all", segment)
	}
	return fmt.Errorf("--segment %s: CONTACTS holds no deltas of this segment (it holds %s)", segment, strings.Join(known, ", "))
}

package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
)

// record is one stored message as a scan sees it.
type record struct {
	Seq     uint64
	Subject string
	Time    time.Time
	Header  nats.Header
	Data    []byte
}

// scanFrom says where a scan starts, and where it ends; the zero value is
// the beginning to the stream's last sequence when the scan began.
type scanFrom struct {
	Seq  uint64
	Time time.Time
	// Until, if set, is the last sequence visited (several scans of one
	// stream that must see the same stream).
	Until uint64
}

// scanBatch is how many messages one fetch asks for.
const scanBatch = 256

// scan calls fn for every message of stream matching filter ("" = all),
// from the start position up to the stream's last sequence when the scan
// began, in sequence order. Messages published during the scan (a backfill
// republishing into the stream it reads) are not visited. It reads with an
// ephemeral AckNone consumer in memory, which it deletes at the end, so
// nothing is consumed. fn returning errStop ends the scan without error.
// Each JetStream call is bounded by bus.DefaultCallTimeout, so a scan of a
// stream without a leader fails instead of hanging.
func scan(ctx context.Context, js jetstream.JetStream, stream, filter string, from scanFrom, headersOnly bool, fn func(record) error) error {
	var filters []string
	if filter != "" {
		filters = []string{filter}
	}
	return scanSubjects(ctx, js, stream, filters, from, headersOnly, fn)
}

// scanSubjects is scan with any number of filter subjects (none = all).
func scanSubjects(ctx context.Context, js jetstream.JetStream, stream string, filters []string, from scanFrom, headersOnly bool, fn func(record) error) error {
	cctx, cancel := context.WithTimeout(ctx, bus.DefaultCallTimeout)
	s, err := js.Stream(cctx, stream)
	cancel()
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	last := s.CachedInfo().State.LastSeq
	if from.Until > 0 {
		last = min(last, from.Until)
	}
	cfg := jetstream.ConsumerConfig{
		Description:       "syncctl scan",
		AckPolicy:         jetstream.AckNonePolicy,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		HeadersOnly:       headersOnly,
		InactiveThreshold: time.Minute, // cleaned up even if syncctl dies
		MemoryStorage:     true,
		Replicas:          1,
	}
	switch len(filters) {
	case 0:
	case 1:
		cfg.FilterSubject = filters[0]
	default:
		cfg.FilterSubjects = filters
	}
	switch {
	case from.Seq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from.Seq
	case !from.Time.IsZero():
		t := from.Time
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	cctx, cancel = context.WithTimeout(ctx, bus.DefaultCallTimeout)
	cons, err := s.CreateConsumer(cctx, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("scan %s: %w", stream, err)
	}
	name := cons.CachedInfo().Name
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.DeleteConsumer(dctx, name)
	}()
	remaining := cons.CachedInfo().NumPending
	if remaining == 0 {
		return nil
	}
	for {
		// Ask for no more than is pending: a fetch waits for its whole batch.
		batch, err := cons.Fetch(int(min(remaining, scanBatch)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("scan %s: %w", stream, err)
		}
		n := 0
		done := false
		for m := range batch.Messages() {
			n++
			if done {
				continue // drain the batch
			}
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("scan %s: %w", stream, err)
			}
			if md.Sequence.Stream > last {
				done = true
				continue
			}
			r := record{Seq: md.Sequence.Stream, Subject: m.Subject(), Time: md.Timestamp, Header: m.Headers(), Data: m.Data()}
			if err := fn(r); err != nil {
				if errors.Is(err, errStop) {
					done = true
					continue
				}
				return err
			}
			remaining = md.NumPending
			if remaining == 0 || md.Sequence.Stream == last {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("scan %s: %w", stream, err)
		}
		if done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if n == 0 {
			// Nothing arrived: the remaining messages were deleted or aged
			// out since the consumer was created. Ask before giving up.
			cctx, cancel := context.WithTimeout(ctx, bus.DefaultCallTimeout)
			info, err := cons.Info(cctx)
			cancel()
			if err != nil {
				return fmt.Errorf("scan %s: %w", stream, err)
			}
			if remaining = info.NumPending; remaining == 0 {
				return nil
			}
		}
	}
}

// errStop ends a scan early from its callback.
var errStop = errors.New("stop scan")

package ops

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
)

// scanFilterBatch is how many contact subjects one scan consumer filters
// on (a consumer's filter subjects travel in its create request, which
// must stay well under the server's 1 MB payload limit).
const scanFilterBatch = 500

// scanContacts calls fn for every delta of the contacts with keys stored in
// CONTACTS up to its last sequence when the scan began: one ephemeral
// consumer per scanFilterBatch keys, each filtered on the keys' subjects
// (contacts.delta.*.<partition>.<key>), so the server reads only their
// deltas and nothing is consumed. Within one consumer messages come in
// stream order.
func scanContacts(ctx context.Context, js jetstream.JetStream, keys []string, fn func(record) error) error {
	if len(keys) == 0 {
		return nil
	}
	partitions, err := bus.StreamPartitions(ctx, js)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, bus.DefaultCallTimeout)
	s, err := js.Stream(cctx, bus.StreamContacts)
	cancel()
	if err != nil {
		return fmt.Errorf("stream %s: %w", bus.StreamContacts, err)
	}
	last := s.CachedInfo().State.LastSeq
	for start := 0; start < len(keys); start += scanFilterBatch {
		batch := keys[start:min(start+scanFilterBatch, len(keys))]
		filters := make([]string, len(batch))
		for i, k := range batch {
			filters[i] = "contacts.delta.*." + strconv.Itoa(bus.Partition(k, partitions)) + "." + k
		}
		if err := scanFiltered(ctx, s, filters, last, fn); err != nil {
			return err
		}
	}
	return nil
}

func scanFiltered(ctx context.Context, s jetstream.Stream, filters []string, last uint64, fn func(record) error) error {
	cctx, cancel := context.WithTimeout(ctx, bus.DefaultCallTimeout)
	cons, err := s.CreateConsumer(cctx, jetstream.ConsumerConfig{
		Description:       "syncctl reconcile --repair scan",
		AckPolicy:         jetstream.AckNonePolicy,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		FilterSubjects:    filters,
		InactiveThreshold: time.Minute, // cleaned up even if syncctl dies
		MemoryStorage:     true,
		Replicas:          1,
	})
	cancel()
	if err != nil {
		return fmt.Errorf("scan %s: %w", bus.StreamContacts, err)
	}
	name := cons.CachedInfo().Name
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.DeleteConsumer(dctx, name)
	}()
	remaining := cons.CachedInfo().NumPending
	for remaining > 0 {
		msgs, err := cons.Fetch(int(min(remaining, scanBatch)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("scan %s: %w", bus.StreamContacts, err)
		}
		n, done := 0, false
		for m := range msgs.Messages() {
			n++
			if done {
				continue // drain the batch
			}
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("scan %s: %w", bus.StreamContacts, err)
			}
			if md.Sequence.Stream > last {
				done = true
				continue
			}
			if err := fn(record{Seq: md.Sequence.Stream, Subject: m.Subject(), Time: md.Timestamp, Header: m.Headers(), Data: m.Data()}); err != nil {
				return err
			}
			remaining = md.NumPending
		}
		if err := msgs.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("scan %s: %w", bus.StreamContacts, err)
		}
		if done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if n == 0 {
			// Deleted or aged out since the consumer was created: ask.
			cctx, cancel := context.WithTimeout(ctx, bus.DefaultCallTimeout)
			info, err := cons.Info(cctx)
			cancel()
			if err != nil {
				return fmt.Errorf("scan %s: %w", bus.StreamContacts, err)
			}
			remaining = info.NumPending
		}
	}
	return nil
}

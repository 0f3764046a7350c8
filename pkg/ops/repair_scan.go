package ops

import (
	"context"
	"fmt"
	"strconv"

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
		if err := scanSubjects(ctx, js, bus.StreamContacts, filters, scanFrom{Until: last}, false, fn); err != nil {
			return err
		}
	}
	return nil
}

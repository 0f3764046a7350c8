package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/fleet"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// StreamStatus is one stream's size and time span.
type StreamStatus struct {
	Name      string    `json:"name"`
	Messages  uint64    `json:"messages"`
	Bytes     uint64    `json:"bytes"`
	FirstSeq  uint64    `json:"first_seq"`
	LastSeq   uint64    `json:"last_seq"`
	FirstTime time.Time `json:"first_time,omitzero"`
	LastTime  time.Time `json:"last_time,omitzero"`
	Consumers int       `json:"consumers"`
	Missing   bool      `json:"missing,omitempty"` // the stream does not exist
}

// ConsumerStatus is one durable consumer's lag.
type ConsumerStatus struct {
	Stream      string `json:"stream"`
	Name        string `json:"name"`
	Partition   int    `json:"partition"` // -1 for consumers that are not upsert partitions
	Pending     uint64 `json:"num_pending"`
	AckPending  int    `json:"num_ack_pending"`
	Redelivered int    `json:"num_redelivered"`
	Lag         uint64 `json:"lag"` // Pending + AckPending, what KEDA scales on
	// Owner holds the partition's lease (fleet member name), OwnerRenewed
	// when it last renewed it; a lease not renewed for SYNC_LEASE_TTL is
	// up for takeover.
	Owner        string    `json:"owner,omitempty"`
	OwnerRenewed time.Time `json:"owner_renewed,omitzero"`
	Paused       bool      `json:"paused,omitempty"`
	Missing      bool      `json:"missing,omitempty"` // expected but not created yet
}

// Status is the pipeline at a glance.
type Status struct {
	At           time.Time         `json:"at"`
	Streams      []StreamStatus    `json:"streams"`
	Partitions   []ConsumerStatus  `json:"partitions"`
	PartitionLag uint64            `json:"partition_lag"`
	Reconciler   *ConsumerStatus   `json:"reconciler,omitempty"`
	Other        []ConsumerStatus  `json:"other_consumers,omitempty"`
	DLQBySegment map[string]uint64 `json:"dlq_by_segment"`
	DLQByCode    map[string]uint64 `json:"dlq_by_code"`
	Members      []string          `json:"members"`
	// MemberReports are what each live upserter says of itself in its
	// heartbeat: partitions, freshness budget, the org's API forecast.
	MemberReports  map[string]upsert.MemberReport `json:"member_reports,omitempty"`
	MembersMissing bool                           `json:"members_missing,omitempty"`
}

// ReconcilerConsumer is the durable name of the reconciler on CONFLICTS.
const ReconcilerConsumer = "reconciler"

// Status reads stream sizes, consumer lag, the DLQ by segment and error code,
// and the live upserter members. Each read is retried while JetStream does
// not answer (see WithRetry); when one gives up, the error is a
// *bus.RetryError naming what could not be read.
func (o *Ops) Status(ctx context.Context) (Status, error) {
	st := Status{At: o.now().UTC(), DLQBySegment: map[string]uint64{}, DLQByCode: map[string]uint64{}}
	for _, name := range []string{bus.StreamContacts, bus.StreamConflicts, bus.StreamDLQ} {
		ss, err := o.streamStatus(ctx, name)
		if err != nil {
			return st, err
		}
		st.Streams = append(st.Streams, ss)
	}
	if err := o.partitionStatus(ctx, &st); err != nil {
		return st, err
	}
	if err := o.reconcilerStatus(ctx, &st); err != nil {
		return st, err
	}
	var err error
	if st.DLQBySegment, err = o.countBySegment(ctx, bus.StreamDLQ, bus.DLQSubjects); err != nil {
		return st, err
	}
	if st.DLQByCode, err = o.dlqByCode(ctx); err != nil {
		return st, err
	}
	st.Members, st.MemberReports, st.MembersMissing, err = o.members(ctx)
	return st, err
}

func (o *Ops) streamStatus(ctx context.Context, name string) (StreamStatus, error) {
	var info *jetstream.StreamInfo
	err := o.read(ctx, "stream "+name, func(ctx context.Context) error {
		s, err := o.js.Stream(ctx, name)
		if err == nil {
			info = s.CachedInfo()
		}
		return err
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return StreamStatus{Name: name, Missing: true}, nil
	}
	if err != nil {
		return StreamStatus{}, err
	}
	i := info.State
	return StreamStatus{Name: name, Messages: i.Msgs, Bytes: i.Bytes, FirstSeq: i.FirstSeq, LastSeq: i.LastSeq,
		FirstTime: nonZero(i.FirstTime, i.Msgs), LastTime: nonZero(i.LastTime, i.Msgs), Consumers: i.Consumers}, nil
}

func nonZero(t time.Time, msgs uint64) time.Time {
	if msgs == 0 || t.Unix() <= 0 {
		return time.Time{}
	}
	return t.UTC()
}

func consumerStatus(stream string, partition int, ci *jetstream.ConsumerInfo) ConsumerStatus {
	cs := ConsumerStatus{Stream: stream, Name: ci.Name, Partition: partition, Pending: ci.NumPending,
		AckPending: ci.NumAckPending, Redelivered: ci.NumRedelivered, Paused: ci.Paused}
	cs.Lag = cs.Pending + uint64(max(cs.AckPending, 0))
	return cs
}

// leaseOwners reads the partition leases (fleet.LeaseKey in the state
// bucket): member and last renewal per partition. A missing bucket means
// no upserter has run yet.
func (o *Ops) leaseOwners(ctx context.Context, n int) (map[int]ConsumerStatus, error) {
	out := map[int]ConsumerStatus{}
	err := o.read(ctx, "partition leases in bucket "+bus.BucketState, func(ctx context.Context) error {
		kv, err := o.js.KeyValue(ctx, bus.BucketState)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		for p := range n {
			e, err := kv.Get(ctx, fleet.LeaseKey(p))
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			var v struct {
				Member string `json:"member"`
			}
			if json.Unmarshal(e.Value(), &v) == nil && v.Member != "" {
				out[p] = ConsumerStatus{Owner: v.Member, OwnerRenewed: e.Created().UTC()}
			}
		}
		return nil
	})
	return out, err
}

func (o *Ops) partitionStatus(ctx context.Context, st *Status) error {
	var n int
	var byName map[string]*jetstream.ConsumerInfo
	err := o.read(ctx, "consumers of stream "+bus.StreamContacts, func(ctx context.Context) error {
		s, err := o.js.Stream(ctx, bus.StreamContacts)
		if err != nil {
			return err
		}
		if n, err = bus.StreamPartitions(ctx, o.js); err != nil {
			return err
		}
		byName = map[string]*jetstream.ConsumerInfo{}
		lister := s.ListConsumers(ctx)
		for ci := range lister.Info() {
			byName[ci.Name] = ci
		}
		return lister.Err()
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	owners, err := o.leaseOwners(ctx, n)
	if err != nil {
		return err
	}
	for p := range n {
		name := upsert.ConsumerName(p)
		ci, ok := byName[name]
		if !ok {
			st.Partitions = append(st.Partitions, ConsumerStatus{Stream: bus.StreamContacts, Name: name, Partition: p, Missing: true})
			continue
		}
		delete(byName, name)
		cs := consumerStatus(bus.StreamContacts, p, ci)
		cs.Owner, cs.OwnerRenewed = owners[p].Owner, owners[p].OwnerRenewed
		st.PartitionLag += cs.Lag
		st.Partitions = append(st.Partitions, cs)
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		if ci := byName[name]; ci.Config.Durable != "" { // ephemeral scans are not interesting
			st.Other = append(st.Other, consumerStatus(bus.StreamContacts, -1, ci))
		}
	}
	return nil
}

func (o *Ops) reconcilerStatus(ctx context.Context, st *Status) error {
	var ci *jetstream.ConsumerInfo
	err := o.read(ctx, "consumer "+ReconcilerConsumer+" of stream "+bus.StreamConflicts, func(ctx context.Context) error {
		var err error
		ci, err = consumerInfo(ctx, o.js, bus.StreamConflicts, ReconcilerConsumer)
		return err
	})
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		st.Reconciler = &ConsumerStatus{Stream: bus.StreamConflicts, Name: ReconcilerConsumer, Partition: -1, Missing: true}
		return nil
	case err != nil:
		return err
	}
	cs := consumerStatus(bus.StreamConflicts, -1, ci)
	st.Reconciler = &cs
	return nil
}

func consumerInfo(ctx context.Context, js jetstream.JetStream, stream, name string) (*jetstream.ConsumerInfo, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	c, err := s.Consumer(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", name, stream, err)
	}
	return c.CachedInfo(), nil
}

// countBySegment counts a stream's messages by the segment token of their
// subjects, from the server's per-subject counts (no message is read).
func (o *Ops) countBySegment(ctx context.Context, stream, filter string) (map[string]uint64, error) {
	out := map[string]uint64{}
	var info *jetstream.StreamInfo
	err := o.read(ctx, "subjects of stream "+stream, func(ctx context.Context) error {
		s, err := o.js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err = s.Info(ctx, jetstream.WithSubjectFilter(filter))
		return err
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for subj, n := range info.State.Subjects {
		seg := bus.SegmentOf(subj)
		if seg == "" {
			seg = "(other)"
		}
		out[seg] += n
	}
	return out, nil
}

// dlqByCode counts dead letters by Cs-Error-Code, reading headers only.
func (o *Ops) dlqByCode(ctx context.Context) (map[string]uint64, error) {
	var out map[string]uint64
	// A scan reads as long as the DLQ is big: no deadline on the whole of
	// it (each of its calls has the JetStream default); one cut short by a
	// node loss starts over.
	r := o.retry
	r.CallTimeout = -1
	err := r.Do(ctx, "dead letters in stream "+bus.StreamDLQ, func(ctx context.Context) error {
		out = map[string]uint64{}
		return scan(ctx, o.js, bus.StreamDLQ, "", scanFrom{}, true, func(r record) error {
			code := r.Header.Get(bus.HeaderErrorCode)
			if code == "" {
				code = "(none)"
			}
			out[code]++
			return nil
		})
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return out, nil
	}
	return out, err
}

func (o *Ops) members(ctx context.Context) ([]string, map[string]upsert.MemberReport, bool, error) {
	var members []string
	reports := map[string]upsert.MemberReport{}
	err := o.read(ctx, "bucket "+bus.BucketMembers, func(ctx context.Context) error {
		kv, err := o.js.KeyValue(ctx, bus.BucketMembers)
		if err != nil {
			return err
		}
		keys, err := kv.ListKeys(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = keys.Stop() }()
		members = []string{}
		for k := range keys.Keys() {
			members = append(members, k)
		}
		if err := ctx.Err(); err != nil { // the listing ends early, without an error, when ctx does
			return err
		}
		for _, m := range members {
			e, err := kv.Get(ctx, m)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue // left meanwhile
			}
			if err != nil {
				return err
			}
			var r upsert.MemberReport
			if json.Unmarshal(e.Value(), &r) == nil { // older members heartbeat a bare timestamp
				reports[m] = r
			}
		}
		return nil
	})
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil, true, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	slices.Sort(members)
	return members, reports, false, nil
}

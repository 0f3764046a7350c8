package bus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream and bucket names.
const (
	StreamContacts   = "CONTACTS"
	StreamConflicts  = "CONFLICTS"
	StreamDLQ        = "DLQ"
	BucketState      = "contact_state"
	BucketWatermarks = "watermarks"
	BucketMembers    = "upserter_members"
)

// Subject patterns.
const (
	ContactsSubjects  = "contacts.delta.*.*"  // what producers publish to
	ConflictsSubjects = "contacts.conflict.*" // one token: the segment
	DLQSubjects       = "contacts.dlq.*"      // one token: the segment
	contactsPrefix    = "contacts.delta."
	conflictPrefix    = "contacts.conflict."
	dlqPrefix         = "contacts.dlq."
	conflictsMaxAge   = 30 * 24 * time.Hour
	dlqMaxAge         = 30 * 24 * time.Hour
	conflictsDupWin   = time.Hour
	dlqDupWin         = 24 * time.Hour
	defaultPartitions = 16
	defaultMaxAge     = 7 * 24 * time.Hour
	defaultDupWindow  = 10 * time.Minute
)

// MembersTTL is how long an upserter_members entry lives without a heartbeat.
const MembersTTL = 6 * time.Second

// Topology sizes the streams and buckets. The zero value means the defaults.
type Topology struct {
	// Partitions of CONTACTS. Fixed for the life of the stream: changing it
	// remaps keys, so Ensure refuses to. Zero keeps an existing stream's
	// count and means 16 for a new one.
	Partitions int
	// Replicas of every stream and bucket. Zero keeps an existing topology's
	// count (that of CONTACTS) and means 1 for a new one; 3 on a cluster.
	Replicas int
	// MaxAge of CONTACTS (default 7 days).
	MaxAge time.Duration
	// DuplicateWindow of CONTACTS (default 10 minutes).
	DuplicateWindow time.Duration
	// Storage of every stream and bucket (zero value: file).
	Storage jetstream.StorageType
}

// ErrPartitionsChanged is returned by Ensure when CONTACTS exists with a
// different partition count than asked for.
var ErrPartitionsChanged = errors.New("bus: CONTACTS partition count differs from the existing stream")

func (t Topology) withDefaults() Topology {
	if t.Partitions == 0 {
		t.Partitions = defaultPartitions
	}
	if t.Replicas == 0 {
		t.Replicas = 1
	}
	if t.MaxAge == 0 {
		t.MaxAge = defaultMaxAge
	}
	if t.DuplicateWindow == 0 {
		t.DuplicateWindow = defaultDupWindow
	}
	return t
}

func (t Topology) validate() error {
	switch {
	case t.Partitions < 1 || t.Partitions > 1024:
		return fmt.Errorf("bus: Topology.Partitions %d: want 1..1024", t.Partitions)
	case t.Replicas < 1 || t.Replicas > 5:
		return fmt.Errorf("bus: Topology.Replicas %d: want 1..5", t.Replicas)
	case t.MaxAge < time.Minute:
		return fmt.Errorf("bus: Topology.MaxAge %v: want at least 1m", t.MaxAge)
	case t.DuplicateWindow < 100*time.Millisecond || t.DuplicateWindow > t.MaxAge:
		return fmt.Errorf("bus: Topology.DuplicateWindow %v: want 100ms..MaxAge (%v)", t.DuplicateWindow, t.MaxAge)
	case t.Storage != jetstream.FileStorage && t.Storage != jetstream.MemoryStorage:
		return fmt.Errorf("bus: Topology.Storage %v: want file or memory", t.Storage)
	}
	return nil
}

// contactsTransform is the destination that inserts the partition token.
func contactsTransform(partitions int) string {
	return "contacts.delta.{{wildcard(1)}}.{{partition(" + strconv.Itoa(partitions) + ",2)}}.{{wildcard(2)}}"
}

// Streams returns the stream configurations Ensure applies, for inspection
// and documentation.
func (t Topology) Streams() []jetstream.StreamConfig {
	t = t.withDefaults()
	return []jetstream.StreamConfig{{
		Name:        StreamContacts,
		Description: "contact deltas, stored as contacts.delta.<segment>.<partition>.<key>",
		Subjects:    []string{ContactsSubjects},
		// The server adds the partition token, so every producer (Go or not,
		// `nats pub` included) lands a contact's deltas in the same partition
		// without knowing the partition count.
		SubjectTransform: &jetstream.SubjectTransformConfig{Source: ContactsSubjects, Destination: contactsTransform(t.Partitions)},
		// Limits, not WorkQueue: acked deltas stay for replay and segment
		// backfill, several consumers (upserters, backfill, audit) can read,
		// and a Term'd message is still there for the dead-letter copy.
		Retention: jetstream.LimitsPolicy,
		// A week of history: long enough to replay after an incident found
		// on Monday, short enough to bound disk.
		MaxAge: t.MaxAge,
		// Nats-Msg-Id = external ID:version; a producer retrying a batch or
		// re-reading a file within the window stores nothing twice.
		Duplicates: t.DuplicateWindow,
		// Discard old: ingest never blocks on a full stream; MaxAge bounds it.
		Discard: jetstream.DiscardOld,
		// File storage survives restarts; memory only if asked (tests, bench).
		Storage:  t.Storage,
		Replicas: t.Replicas,
		// Direct get spreads GetMsg (dead-letter copies, syncctl show) over
		// replicas instead of the leader.
		AllowDirect: true,
	}, {
		Name:        StreamConflicts,
		Description: "duplicate-rule conflict events for the reconciler",
		Subjects:    []string{ConflictsSubjects},
		// Limits so ops can browse conflicts (`nats stream view`) and the
		// reconciler can be re-run from any point; it upserts by
		// Exception_Key__c, so re-reading is harmless.
		Retention: jetstream.LimitsPolicy,
		// Stewards may take weeks to look: keep a month.
		MaxAge: conflictsMaxAge,
		// The upserter's conflict IDs (conflict:<key>:<version>) dedup
		// republishes after a redelivery within the hour.
		Duplicates: conflictsDupWin,
		Discard:    jetstream.DiscardOld,
		Storage:    t.Storage,
		Replicas:   t.Replicas,
	}, {
		Name:        StreamDLQ,
		Description: "deltas refused for good, with the reason in Cs-Error-* headers",
		Subjects:    []string{DLQSubjects},
		// Limits, not WorkQueue: WorkQueue streams allow only DeliverAll
		// consumers, which breaks `nats stream view`, paging and replay tools.
		Retention: jetstream.LimitsPolicy,
		// A month to notice, fix and replay.
		MaxAge: dlqMaxAge,
		// dlq:<stream>:<seq> IDs make a dead letter idempotent when a worker
		// crashes between publishing it and terminating the original, which
		// is redelivered after AckWait/backoff (minutes to an hour).
		Duplicates: dlqDupWin,
		Discard:    jetstream.DiscardOld,
		Storage:    t.Storage,
		Replicas:   t.Replicas,
		// syncctl dlq list/show read single messages by sequence.
		AllowDirect: true,
	}}
}

// Buckets returns the KV bucket configurations Ensure applies.
func (t Topology) Buckets() []jetstream.KeyValueConfig {
	t = t.withDefaults()
	return []jetstream.KeyValueConfig{{
		Bucket:      BucketState,
		Description: "external ID key -> Salesforce Id and last applied source version",
		// Only the current state matters; history would only cost disk.
		History:  1,
		Storage:  t.Storage,
		Replicas: t.Replicas,
	}, {
		Bucket:      BucketWatermarks,
		Description: "per-source watermarks (last published source version)",
		// A few revisions let ops see how a watermark moved and roll back
		// after a bad poll.
		History:  5,
		Storage:  t.Storage,
		Replicas: t.Replicas,
	}, {
		Bucket:      BucketMembers,
		Description: "upserter fleet membership heartbeats",
		// A member heartbeats every ~2s; an entry not refreshed for 6s
		// expires, so a dead member's partitions move within seconds.
		TTL:      MembersTTL,
		History:  1,
		Storage:  t.Storage,
		Replicas: t.Replicas,
	}}
}

// Ensure creates the streams and buckets, or updates them to t. It is
// idempotent and safe to call from several processes at once. It refuses to
// change the partition count of an existing CONTACTS stream
// (ErrPartitionsChanged).
//
// It rides out a node loss: every JetStream call gets its own deadline and
// is retried with backoff while it fails for a reason that goes away (see
// Retryable), until ctx ends; then the error is a *RetryError naming the
// step and wrapping the last error. Permanent errors return at once. It is
// EnsureWith and the default Retry.
func Ensure(ctx context.Context, js jetstream.JetStream, t Topology) error {
	return EnsureWith(ctx, js, t, Retry{})
}

// EnsureWith is Ensure with the retry policy r, for callers that report
// progress (r.OnRetry) or bound the wait (r.MaxElapsed).
func EnsureWith(ctx context.Context, js jetstream.JetStream, t Topology, r Retry) error {
	existing, replicas := 0, 0
	err := r.Do(ctx, "read partitions of stream "+StreamContacts, func(ctx context.Context) error {
		n, err := StreamPartitions(ctx, js)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		s, err := js.Stream(ctx, StreamContacts)
		if err != nil {
			return err
		}
		existing, replicas = n, s.CachedInfo().Config.Replicas
		return nil
	})
	switch {
	case err != nil:
		return fmt.Errorf("bus: %w", err)
	case existing == 0:
	case t.Partitions == 0:
		t.Partitions = existing
	case t.Partitions != existing:
		return fmt.Errorf("%w: stream has %d partitions, asked for %d (changing it would reorder contacts; create a new stream and migrate)",
			ErrPartitionsChanged, existing, t.Partitions)
	}
	if t.Replicas == 0 && replicas > 0 {
		// Unset means "as it is": a process started without
		// NATS_REPLICAS must not scale a cluster's R3 topology down.
		t.Replicas = replicas
	}
	t = t.withDefaults()
	if err := t.validate(); err != nil {
		return err
	}
	for _, cfg := range t.Streams() {
		if err := r.Do(ctx, "ensure stream "+cfg.Name, func(ctx context.Context) error {
			return retryInUse(func() error { _, err := js.CreateOrUpdateStream(ctx, cfg); return err })
		}); err != nil {
			return fmt.Errorf("bus: %w", err)
		}
	}
	for _, cfg := range t.Buckets() {
		if err := r.Do(ctx, "ensure bucket "+cfg.Bucket, func(ctx context.Context) error {
			return retryInUse(func() error { _, err := js.CreateOrUpdateKeyValue(ctx, cfg); return err })
		}); err != nil {
			return fmt.Errorf("bus: %w", err)
		}
	}
	return nil
}

// StreamPartitions reads the partition count of the existing CONTACTS
// stream from its subject transform. It returns an error wrapping
// jetstream.ErrStreamNotFound when there is no stream yet.
func StreamPartitions(ctx context.Context, js jetstream.JetStream) (int, error) {
	s, err := js.Stream(ctx, StreamContacts)
	if err != nil {
		return 0, fmt.Errorf("bus: stream %s: %w", StreamContacts, err)
	}
	st := s.CachedInfo().Config.SubjectTransform
	if st == nil {
		return 0, fmt.Errorf("bus: stream %s has no partitioning subject transform", StreamContacts)
	}
	_, rest, ok := strings.Cut(st.Destination, "{{partition(")
	num, _, ok2 := strings.Cut(rest, ",")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if !ok || !ok2 || err != nil || n < 1 {
		return 0, fmt.Errorf("bus: stream %s transform %q has no partition(n,…)", StreamContacts, st.Destination)
	}
	return n, nil
}

// retryInUse retries f when another process created the same stream between
// our update (not found) and our create (already in use).
func retryInUse(f func() error) error {
	var err error
	for range 3 {
		if err = f(); !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return err
		}
	}
	return err
}

// Partition is the partition the server assigns to key among n: FNV-1a 32-bit
// of the key token modulo n, exactly as {{partition(n,2)}} computes it.
func Partition(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// DeltaFilter is the consumer filter of one partition of CONTACTS.
func DeltaFilter(partition int) string {
	return "contacts.delta.*." + strconv.Itoa(partition) + ".*"
}

// OriginalSubject turns a stored CONTACTS subject
// (contacts.delta.<segment>.<partition>.<key>) back into the subject it was
// published to (contacts.delta.<segment>.<key>), the one replays must use.
// Any other subject is returned unchanged.
func OriginalSubject(stored string) string {
	rest, ok := strings.CutPrefix(stored, contactsPrefix)
	if !ok {
		return stored
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return stored
	}
	return contactsPrefix + parts[0] + "." + parts[2]
}

// SegmentOf returns the segment token of a delta, conflict or DLQ subject,
// stored or original, or "" if subject is none of those.
func SegmentOf(subject string) string {
	for _, p := range []string{contactsPrefix, conflictPrefix, dlqPrefix} {
		if rest, ok := strings.CutPrefix(subject, p); ok {
			seg, _, _ := strings.Cut(rest, ".")
			return seg
		}
	}
	return ""
}

// ConflictSubject is where conflict events of segment are published.
func ConflictSubject(segment string) string { return conflictPrefix + segment }

// DLQSubject is where dead letters of segment are published.
func DLQSubject(segment string) string { return dlqPrefix + segment }

// HeaderRepairTicket marks a delta re-driven by `syncctl reconcile --repair`
// (its value is the ticket). The upserter writes such a delta also when its
// version equals the contact's applied version, so a contact deleted or
// edited by hand in Salesforce gets the fleet's last write back; an older
// version, or a contact whose applied state is a delete, stays stale, so a
// repair never rolls a contact back past a newer delta.
const HeaderRepairTicket = "Cs-Repair-Ticket"

package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// connect starts an embedded server in a temp dir and returns a JetStream
// handle on a fresh connection; both are closed when the test ends.
func connect(t *testing.T) (*Embedded, jetstream.JetStream) {
	t.Helper()
	e, err := StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e, dial(t, e)
}

func dial(t *testing.T, e *Embedded) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(e.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestEnsureCreatesTopology(t *testing.T) {
	_, js := connect(t)
	ctx := ctxT(t)
	if err := Ensure(ctx, js, Topology{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		subject   string
		maxAge    time.Duration
		dup       time.Duration
		direct    bool
		transform string
	}{
		StreamContacts:  {ContactsSubjects, 7 * 24 * time.Hour, 10 * time.Minute, true, "contacts.delta.{{wildcard(1)}}.{{partition(16,2)}}.{{wildcard(2)}}"},
		StreamConflicts: {ConflictsSubjects, 30 * 24 * time.Hour, time.Hour, false, ""},
		StreamDLQ:       {DLQSubjects, 30 * 24 * time.Hour, 24 * time.Hour, true, ""},
	}
	for name, w := range want {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		c := s.CachedInfo().Config
		if len(c.Subjects) != 1 || c.Subjects[0] != w.subject || c.Retention != jetstream.LimitsPolicy ||
			c.MaxAge != w.maxAge || c.Duplicates != w.dup || c.AllowDirect != w.direct || c.Storage != jetstream.FileStorage {
			t.Errorf("stream %s config = subjects %v retention %v maxAge %v dup %v direct %v storage %v", name,
				c.Subjects, c.Retention, c.MaxAge, c.Duplicates, c.AllowDirect, c.Storage)
		}
		got := ""
		if c.SubjectTransform != nil {
			got = c.SubjectTransform.Destination
		}
		if got != w.transform {
			t.Errorf("stream %s transform = %q, want %q", name, got, w.transform)
		}
	}
	for bucket, w := range map[string]struct {
		history int64
		ttl     time.Duration
	}{BucketState: {1, 0}, BucketWatermarks: {5, 0}, BucketMembers: {1, 6 * time.Second}} {
		kv, err := js.KeyValue(ctx, bucket)
		if err != nil {
			t.Fatalf("bucket %s: %v", bucket, err)
		}
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.History() != w.history || st.TTL() != w.ttl {
			t.Errorf("bucket %s: history %d ttl %v, want %d %v", bucket, st.History(), st.TTL(), w.history, w.ttl)
		}
	}
}

func TestEnsureIdempotentAndConcurrent(t *testing.T) {
	e, js := connect(t)
	ctx := ctxT(t)
	// Several processes starting at once all succeed.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		js := dial(t, e)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = Ensure(ctx, js, Topology{Partitions: 8})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Ensure %d: %v", i, err)
		}
	}
	// Data survives a second Ensure, which also applies changed limits.
	if _, err := js.Publish(ctx, "contacts.delta.emea.k1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := Ensure(ctx, js, Topology{Partitions: 8, MaxAge: 48 * time.Hour}); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	s, err := js.Stream(ctx, StreamContacts)
	if err != nil {
		t.Fatal(err)
	}
	if info := s.CachedInfo(); info.State.Msgs != 1 || info.Config.MaxAge != 48*time.Hour {
		t.Fatalf("after re-Ensure: msgs %d maxAge %v", info.State.Msgs, info.Config.MaxAge)
	}
	// Changing the partition count would reorder contacts: refused.
	if err := Ensure(ctx, js, Topology{Partitions: 16}); !errors.Is(err, ErrPartitionsChanged) {
		t.Fatalf("Ensure with other partition count = %v, want ErrPartitionsChanged", err)
	}
	// Zero keeps the existing count.
	if err := Ensure(ctx, js, Topology{}); err != nil {
		t.Fatal(err)
	}
	if n, err := StreamPartitions(ctx, js); n != 8 || err != nil {
		t.Fatalf("StreamPartitions = %d, %v; want 8", n, err)
	}
}

func TestStreamPartitionsWithoutStream(t *testing.T) {
	_, js := connect(t)
	if _, err := StreamPartitions(ctxT(t), js); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("err = %v, want ErrStreamNotFound", err)
	}
}

func TestTopologyValidate(t *testing.T) {
	for _, tc := range []struct {
		t     Topology
		field string
	}{
		{Topology{Partitions: -1}, "Partitions"},
		{Topology{Replicas: 7}, "Replicas"},
		{Topology{MaxAge: time.Second}, "MaxAge"},
		{Topology{MaxAge: time.Hour, DuplicateWindow: 2 * time.Hour}, "DuplicateWindow"},
		{Topology{Storage: 9}, "Storage"},
	} {
		err := tc.t.withDefaults().validate()
		if err == nil || !contains(err.Error(), "Topology."+tc.field) {
			t.Errorf("validate(%+v) = %v, want error naming %s", tc.t, err, tc.field)
		}
	}
	if err := (Topology{}).withDefaults().validate(); err != nil {
		t.Fatal(err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestPartitionMatchesServer publishes many keys, including awkward external
// IDs, and checks the server stored each on the partition Partition computes.
func TestPartitionMatchesServer(t *testing.T) {
	_, js := connect(t)
	ctx := ctxT(t)
	for _, n := range []int{16, 7} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "P" + strconv.Itoa(n), Subjects: []string{"p" + strconv.Itoa(n) + ".*.*"},
				SubjectTransform: &jetstream.SubjectTransformConfig{Source: "p" + strconv.Itoa(n) + ".*.*",
					Destination: "p" + strconv.Itoa(n) + ".{{wildcard(1)}}.{{partition(" + strconv.Itoa(n) + ",2)}}.{{wildcard(2)}}"},
				Storage: jetstream.MemoryStorage})
			if err != nil {
				t.Fatal(err)
			}
			checkPartitions(t, ctx, js, s, "p"+strconv.Itoa(n), n, 300)
		})
	}
	t.Run("CONTACTS", func(t *testing.T) {
		if err := Ensure(ctx, js, Topology{}); err != nil {
			t.Fatal(err)
		}
		s, err := js.Stream(ctx, StreamContacts)
		if err != nil {
			t.Fatal(err)
		}
		checkPartitions(t, ctx, js, s, "contacts.delta", 16, 300)
	})
}

func checkPartitions(t *testing.T, ctx context.Context, js jetstream.JetStream, s jetstream.Stream, prefix string, n, count int) {
	t.Helper()
	ids := []string{"MC_1", "mc_1", "a/b", "a.b", "a b", "*", ">", `"q"`, "Жанна", "名前", "", "="}
	for i := len(ids); i < count; i++ {
		ids = append(ids, fmt.Sprintf("MC_%d", i))
	}
	seen := map[int]bool{}
	for _, id := range ids {
		key := delta.Key(id)
		ack, err := js.Publish(ctx, prefix+".emea."+key, []byte(id))
		if err != nil {
			t.Fatalf("publish %q: %v", id, err)
		}
		m, err := s.GetMsg(ctx, ack.Sequence)
		if err != nil {
			t.Fatal(err)
		}
		p := Partition(key, n)
		seen[p] = true
		if want := fmt.Sprintf("%s.emea.%d.%s", prefix, p, key); m.Subject != want {
			t.Fatalf("id %q stored as %q, Partition says %q", id, m.Subject, want)
		}
		if prefix == "contacts.delta" {
			if got := OriginalSubject(m.Subject); got != prefix+".emea."+key {
				t.Fatalf("OriginalSubject(%q) = %q", m.Subject, got)
			}
		}
	}
	if len(seen) != n {
		t.Fatalf("keys covered %d of %d partitions", len(seen), n)
	}
}

func TestPartitionServerVector(t *testing.T) {
	// nats-server subject_transform_test.go: partition(10) of "foo" is 3.
	if got := Partition("foo", 10); got != 3 {
		t.Fatalf("Partition(foo, 10) = %d, want 3", got)
	}
}

func TestSubjects(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{DeltaFilter(7), "contacts.delta.*.7.*"},
		{OriginalSubject("contacts.delta.emea.7.MC=2E1"), "contacts.delta.emea.MC=2E1"},
		{OriginalSubject("contacts.delta.emea.MC_1"), "contacts.delta.emea.MC_1"},
		{OriginalSubject("other.x.y.z.w"), "other.x.y.z.w"},
		{ConflictSubject("emea"), "contacts.conflict.emea"},
		{DLQSubject("emea"), "contacts.dlq.emea"},
		{SegmentOf("contacts.delta.emea.3.k"), "emea"},
		{SegmentOf("contacts.dlq.apac"), "apac"},
		{SegmentOf("foo.bar"), ""},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestPublishDeadLetterIdempotent(t *testing.T) {
	_, js := connect(t)
	ctx := ctxT(t)
	if err := Ensure(ctx, js, Topology{}); err != nil {
		t.Fatal(err)
	}
	// A delta as a producer publishes it.
	msg := nats.NewMsg("contacts.delta.emea.MC=2E1")
	msg.Data = []byte(`{"external_id":"MC.1"}`)
	msg.Header.Set(delta.HeaderExternalID, "MC.1")
	msg.Header.Set("Nats-Msg-Id", "MC.1:5")
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	contacts, err := js.Stream(ctx, StreamContacts)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := contacts.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	dl := DeadLetter{Subject: stored.Subject, Data: stored.Data, Header: stored.Header,
		ErrorCode: "INVALID_EMAIL_ADDRESS", Message: "Email: invalid email address: jane@\r\nX-Injected: 1", Deliveries: 2, StreamSeq: stored.Sequence}
	for range 3 { // a worker crashing between DLQ publish and Term republishes
		if err := PublishDeadLetter(ctx, js, dl); err != nil {
			t.Fatal(err)
		}
	}
	dlq, err := js.Stream(ctx, StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dlq.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("DLQ holds %d messages, want 1", info.State.Msgs)
	}
	got, err := dlq.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	h := got.Header
	checks := map[string]string{
		HeaderOrigSubject: "contacts.delta.emea.MC=2E1", HeaderOrigStream: StreamContacts, HeaderOrigSeq: "1",
		HeaderErrorCode: "INVALID_EMAIL_ADDRESS", HeaderErrorMessage: "Email: invalid email address: jane@  X-Injected: 1",
		HeaderDeliveries: "2", delta.HeaderExternalID: "MC.1", "Nats-Msg-Id": "dlq:CONTACTS:1",
	}
	for k, want := range checks {
		if v := h.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, h.Get(HeaderFailedAt)); err != nil {
		t.Errorf("Cs-Failed-At: %v", err)
	}
	if got.Subject != "contacts.dlq.emea" || string(got.Data) != string(msg.Data) {
		t.Errorf("dead letter %s %s", got.Subject, got.Data)
	}
	if v := h.Values("Nats-Msg-Id"); len(v) != 1 { // the producer's MC.1:5 must not come along
		t.Errorf("Nats-Msg-Id = %v", v)
	}
	// Another message of the same contact is a different dead letter.
	dl.StreamSeq = 99
	if err := PublishDeadLetter(ctx, js, dl); err != nil {
		t.Fatal(err)
	}
	if info, _ := dlq.Info(ctx); info.State.Msgs != 2 {
		t.Fatalf("DLQ holds %d, want 2", info.State.Msgs)
	}
}

func TestOneLine(t *testing.T) {
	long := ""
	for range 600 {
		long += "é"
	}
	got := oneLine(long, maxMessageLen)
	if len(got) > maxMessageLen+len("…") || !isValidUTF8(got) {
		t.Fatalf("oneLine cut badly: len %d", len(got))
	}
}

func isValidUTF8(s string) bool {
	for _, r := range s {
		if r == '\uFFFD' {
			return false
		}
	}
	return true
}

func TestStartEmbeddedNeedsDir(t *testing.T) {
	if _, err := StartEmbedded(""); err == nil {
		t.Fatal("StartEmbedded(\"\") succeeded")
	}
}

// Issue 10: two servers could open one store (`syncctl --data` on a
// standalone run's store while it still ran) and corrupt it. The second is
// refused, naming the directory; once the first stops, the store opens.
func TestEmbeddedStoreIsLocked(t *testing.T) {
	dir := t.TempDir()
	first, err := StartEmbedded(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := StartEmbedded(dir)
	if err == nil {
		second.Shutdown()
		first.Shutdown()
		t.Fatal("a second server opened a store in use")
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("error %q: want it to name %s and say it is in use", err, dir)
	}
	first.Shutdown()
	again, err := StartEmbedded(dir)
	if err != nil {
		t.Fatalf("after the first stopped: %v", err)
	}
	again.Shutdown()
}

package worker_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/worker"
)

// fetchN publishes n messages on CONFLICTS and fetches them through a
// durable pull consumer, as a worker would.
func fetchN(t *testing.T, js jetstream.JetStream, n int) (jetstream.Consumer, []jetstream.Msg) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		if _, err := js.Publish(ctx, bus.ConflictSubject("emea"), []byte(`{"n":`+strconv.Itoa(i)+`}`)); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamConflicts, jetstream.ConsumerConfig{
		Durable: "settle-test", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for len(msgs) < n {
		b, err := cons.Fetch(n-len(msgs), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range b.Messages() {
			msgs = append(msgs, m)
		}
	}
	return cons, msgs
}

// TestSettleBatch: one settle step takes a batch with every kind of
// decision to JetStream — the dead letter stored first, naming the stream
// and sequence it came from and with the refused email redacted from its
// reason; the written message acked, the dead letter terminated, the
// retried one handed back (and delivered again), the second delivery left
// alone — and the tally says so.
func TestSettleBatch(t *testing.T) {
	_, js := bustest.Start(t, bus.Topology{})
	ctx := context.Background()
	cons, msgs := fetchN(t, js, 4)
	res := []worker.Result{
		{Outcome: worker.Created},
		{Outcome: worker.DeadLettered, Code: "INVALID_EMAIL_ADDRESS", Message: "Email: invalid email address: jane.doe@@corp.example"},
		{Outcome: worker.Retried, Delay: 10 * time.Millisecond},
		{Outcome: worker.Created, Again: true},
	}
	st := worker.Settler{JS: js}
	if n := st.DeadLetters(ctx, msgs, res); n != 0 {
		t.Fatalf("DeadLetters left %d unwritten", n)
	}
	var settled []int
	tally := st.Finish(msgs, res, func(i int) { settled = append(settled, i) })
	if tally.Of(worker.Created) != 1 || tally.Of(worker.DeadLettered) != 1 || tally.Of(worker.Retried) != 1 || tally.Total() != 3 {
		t.Fatalf("tally %v, want created 1, dead_lettered 1, retried 1", tally)
	}
	if len(settled) != 2 || settled[0] != 0 || settled[1] != 1 {
		t.Fatalf("settled callback for %v, want [0 1] (final outcomes only)", settled)
	}

	dlq, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	dl, err := dlq.GetMsg(ctx, 1)
	if err != nil {
		t.Fatalf("no dead letter stored: %v", err)
	}
	md, _ := msgs[1].Metadata()
	if got := dl.Header.Get(bus.HeaderOrigStream); got != bus.StreamConflicts {
		t.Errorf("%s = %q, want %s", bus.HeaderOrigStream, got, bus.StreamConflicts)
	}
	if got := dl.Header.Get(bus.HeaderOrigSeq); got != strconv.FormatUint(md.Sequence.Stream, 10) {
		t.Errorf("%s = %q, want %d", bus.HeaderOrigSeq, got, md.Sequence.Stream)
	}
	if got := dl.Header.Get(bus.HeaderErrorCode); got != "INVALID_EMAIL_ADDRESS" {
		t.Errorf("code %q", got)
	}
	if msg := dl.Header.Get(bus.HeaderErrorMessage); strings.Contains(msg, "jane.doe") || msg == "" {
		t.Errorf("reason %q: want it redacted, not empty", msg)
	}

	// The dead letter is idempotent: storing it again (a worker that died
	// before terminating the original) keeps one.
	res[1].Outcome = worker.DeadLettered
	st.DeadLetters(ctx, msgs[1:2], res[1:2])
	if info, err := dlq.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Fatalf("DLQ holds %v messages (err %v), want 1", info.State.Msgs, err)
	}

	// The handed-back message comes again; the acked and terminated ones
	// do not.
	b, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var again []jetstream.Msg
	for m := range b.Messages() {
		again = append(again, m)
	}
	if len(again) != 1 {
		t.Fatalf("redelivered %d messages, want the retried one", len(again))
	}
	amd, _ := again[0].Metadata()
	if want, _ := msgs[2].Metadata(); amd.Sequence.Stream != want.Sequence.Stream || amd.NumDelivered != 2 {
		t.Fatalf("redelivered stream seq %d (delivery %d), want seq %d delivery 2", amd.Sequence.Stream, amd.NumDelivered, want.Sequence.Stream)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Acked 1, terminated 2; 3 is out again; 4 (Again) was left alone, so
	// it is still pending an ack.
	if info.NumAckPending != 2 {
		t.Fatalf("ack pending %d, want 2 (the redelivered one and the second delivery left alone)", info.NumAckPending)
	}
}

// TestDeadLettersWhenTheyCannotBeStored: a dead letter whose store fails
// stays for redelivery (Retried), never terminated without it; once the
// worker is stopping, they are left without trying and counted.
func TestDeadLettersWhenTheyCannotBeStored(t *testing.T) {
	_, js := bustest.Start(t, bus.Topology{})
	ctx := context.Background()
	_, msgs := fetchN(t, js, 2)
	if err := js.DeleteStream(ctx, bus.StreamDLQ); err != nil {
		t.Fatal(err)
	}
	res := []worker.Result{{Outcome: worker.DeadLettered, Code: "X"}, {Outcome: worker.DeadLettered, Code: "Y"}}
	st := worker.Settler{JS: js, Attempts: 2, CallTimeout: time.Second}
	if n := st.DeadLetters(ctx, msgs[:1], res[:1]); n != 0 || res[0].Outcome != worker.Retried {
		t.Fatalf("unwritten %d, outcome %v: want 0 and retried (the store failed, not a stop)", n, res[0].Outcome)
	}
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	if n := st.DeadLetters(stopped, msgs[1:], res[1:]); n != 1 || res[1].Outcome != worker.Retried {
		t.Fatalf("stopping: unwritten %d, outcome %v; want 1 and retried", n, res[1].Outcome)
	}
	if tally := st.Finish(msgs, res, nil); tally.Of(worker.Retried) != 2 || tally.Of(worker.DeadLettered) != 0 {
		t.Fatalf("tally %v: nothing may be terminated without its dead letter", tally)
	}
}

func TestOutcomeVocabulary(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range worker.Outcomes() {
		name := o.String()
		if name == "" || strings.HasPrefix(name, "outcome(") || seen[name] {
			t.Fatalf("outcome %d has name %q (duplicate or missing)", o, name)
		}
		seen[name] = true
		if o.Wrote() && !o.Final() {
			t.Errorf("%s wrote but is not final", o)
		}
	}
	if len(seen) != worker.NumOutcomes {
		t.Fatalf("%d names for %d outcomes", len(seen), worker.NumOutcomes)
	}
	var a, b worker.Tally
	a.Add(worker.Created, 2)
	b.Add(worker.Held, 1)
	b.Add(worker.Updated, 3)
	a.Merge(b)
	if a.Total() != 6 || a.Wrote() != 5 || a.String() != "created 2, updated 3, held 1" {
		t.Fatalf("tally %v: total %d wrote %d", a, a.Total(), a.Wrote())
	}
}

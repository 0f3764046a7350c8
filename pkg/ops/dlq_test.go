package ops

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/delta"
)

func seqsOf(dls []DeadLetter) []uint64 {
	var out []uint64
	for _, d := range dls {
		out = append(out, d.Seq)
	}
	return out
}

func TestListAndShowDeadLetters(t *testing.T) {
	f := newFixture(t)
	a := f.deadLetter(t, "emea", "MC.1", 10, "INVALID_EMAIL_ADDRESS", "Email: invalid email address: jane@")
	b := f.deadLetter(t, "emea", "MC_2", 11, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]")
	c := f.deadLetter(t, "apac", "AP 3", 12, "INVALID_EMAIL_ADDRESS", "Email: invalid email address: x@")

	all, err := f.ops.ListDeadLetters(f.ctx, DLQFilter{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := seqsOf(all); !slices.Equal(got, []uint64{a, b, c}) {
		t.Fatalf("list = %v, want %v", got, []uint64{a, b, c})
	}
	first := all[0]
	if first.Segment != "emea" || first.ExternalID != "MC.1" || first.ErrorCode != "INVALID_EMAIL_ADDRESS" ||
		first.Message != "Email: invalid email address: jane@" || first.Deliveries != 3 || first.OrigSeq != 1 ||
		first.OrigSubject != "contacts.delta.emea."+delta.ContactKey("MC.1") || first.FailedAt.IsZero() || first.Data != nil {
		t.Fatalf("first dead letter = %+v", first)
	}

	for _, tc := range []struct {
		f    DLQFilter
		want []uint64
	}{
		{DLQFilter{Segment: "emea"}, []uint64{a, b}},
		{DLQFilter{Code: "INVALID_EMAIL_ADDRESS"}, []uint64{a, c}},
		{DLQFilter{Segment: "emea", Code: "INVALID_EMAIL_ADDRESS"}, []uint64{a}},
		{DLQFilter{Limit: 2}, []uint64{a, b}},
		{DLQFilter{Seqs: []uint64{c, a, 99}}, []uint64{a, c}},
		{DLQFilter{Segment: "latam"}, nil},
	} {
		got, err := f.ops.ListDeadLetters(f.ctx, tc.f, false)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqsOf(got), tc.want) {
			t.Errorf("list %+v = %v, want %v", tc.f, seqsOf(got), tc.want)
		}
	}
	if _, err := f.ops.ListDeadLetters(f.ctx, DLQFilter{Segment: "EMEA.>"}, false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad segment: err = %v, want ErrInvalid", err)
	}

	dl, err := f.ops.DeadLetter(f.ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	d, err := delta.Decode(dl.Data)
	if err != nil || d.ExternalID != "MC_2" || d.Version != 11 {
		t.Fatalf("show payload = %s (%v)", dl.Data, err)
	}
	var out strings.Builder
	if err := WriteDeadLetter(&out, dl); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Cs-Error-Code:", "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]",
		"Cs-Orig-Subject:", `"external_id": "MC_2"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("show output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := f.ops.DeadLetter(f.ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("show 99: err = %v, want ErrNotFound", err)
	}
}

func TestReplayRepublishesToOriginalSubject(t *testing.T) {
	f := newFixture(t)
	a := f.deadLetter(t, "emea", "MC.1", 10, "INVALID_EMAIL_ADDRESS", "bad email")
	b := f.deadLetter(t, "emea", "MC_2", 11, "REQUIRED_FIELD_MISSING", "no last name")
	c := f.deadLetter(t, "apac", "AP_3", 12, "INVALID_EMAIL_ADDRESS", "bad email")
	before := f.lastSeq(t, bus.StreamContacts)

	// A dry run publishes and deletes nothing.
	res, err := f.ops.Replay(f.ctx, ReplayOptions{DLQFilter: DLQFilter{Segment: "emea"}, Ticket: "INC-7", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != 2 || res.Replayed != 0 || countOutcome(res.Items, "would_replay") != 2 ||
		f.lastSeq(t, bus.StreamContacts) != before || f.msgs(t, bus.StreamDLQ) != 3 {
		t.Fatalf("dry run: %+v", res)
	}

	res, err = f.ops.Replay(f.ctx, ReplayOptions{DLQFilter: DLQFilter{Segment: "emea"}, Ticket: "INC-7"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != 2 || res.Replayed != 2 || res.Duplicates != 0 || res.Deleted != 2 {
		t.Fatalf("replay: %+v", res)
	}
	got := f.storedAfter(t, before)
	if len(got) != 2 {
		t.Fatalf("CONTACTS got %d new messages, want 2", len(got))
	}
	for i, w := range []struct {
		id     string
		dlqSeq uint64
	}{{"MC.1", a}, {"MC_2", b}} {
		m := got[i]
		if m.Subject != storedSubject("emea", w.id) {
			t.Errorf("replayed %s stored on %s, want %s", w.id, m.Subject, storedSubject("emea", w.id))
		}
		if id := m.Header.Get("Nats-Msg-Id"); id != fmt.Sprintf("replay:INC-7:%d", w.dlqSeq) {
			t.Errorf("replayed %s Nats-Msg-Id = %q", w.id, id)
		}
		if m.Header.Get(delta.HeaderExternalID) != w.id || m.Header.Get(bus.HeaderErrorCode) != "" ||
			m.Header.Get(HeaderReplayTicket) != "INC-7" {
			t.Errorf("replayed %s headers = %v", w.id, m.Header)
		}
		if d, err := delta.Decode(m.Data); err != nil || d.ExternalID != w.id {
			t.Errorf("replayed payload %s: %v", m.Data, err)
		}
	}
	left, err := f.ops.ListDeadLetters(f.ctx, DLQFilter{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqsOf(left), []uint64{c}) {
		t.Fatalf("DLQ after replay = %v, want [%d]", seqsOf(left), c)
	}

	// The same replay again publishes nothing new.
	mid := f.lastSeq(t, bus.StreamContacts)
	res, err = f.ops.Replay(f.ctx, ReplayOptions{DLQFilter: DLQFilter{Segment: "emea"}, Ticket: "INC-7"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != 0 || res.Replayed != 0 || f.lastSeq(t, bus.StreamContacts) != mid {
		t.Fatalf("second replay: %+v, CONTACTS last seq %d -> %d", res, mid, f.lastSeq(t, bus.StreamContacts))
	}
	// By sequence, the replayed ones are reported as gone.
	res, err = f.ops.Replay(f.ctx, ReplayOptions{DLQFilter: DLQFilter{Seqs: []uint64{a}}, Ticket: "INC-7"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 1 || res.Replayed != 0 || !strings.Contains(res.Items[0].Reason, "not in the DLQ") {
		t.Fatalf("replay of a replayed seq: %+v", res)
	}

	// --keep: the dead letter stays, and a second run is deduplicated.
	for i, want := range []struct{ replayed, dups int }{{1, 0}, {0, 1}} {
		res, err = f.ops.Replay(f.ctx, ReplayOptions{DLQFilter: DLQFilter{Seqs: []uint64{c}}, Ticket: "INC-8", Keep: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Replayed != want.replayed || res.Duplicates != want.dups || res.Deleted != 0 {
			t.Fatalf("keep run %d: %+v", i, res)
		}
	}
	if n := len(f.storedAfter(t, mid)); n != 1 {
		t.Fatalf("two kept replays stored %d messages, want 1", n)
	}
	if f.msgs(t, bus.StreamDLQ) != 1 {
		t.Fatalf("DLQ holds %d, want the kept 1", f.msgs(t, bus.StreamDLQ))
	}
	if _, err := f.ops.Replay(f.ctx, ReplayOptions{Ticket: "bad ticket"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad ticket: %v", err)
	}
}

func TestReplaySkipsDeadLettersWithoutOriginalSubject(t *testing.T) {
	f := newFixture(t)
	// A dead letter of something that never was a delta (a producer bug).
	if err := bus.PublishDeadLetter(f.ctx, f.js, bus.DeadLetter{Subject: "contacts.delta.emea", Data: []byte("{}"),
		ErrorCode: "INVALID_DELTA", Message: "no key", StreamSeq: 42}); err != nil {
		t.Fatal(err)
	}
	before := f.lastSeq(t, bus.StreamContacts)
	res, err := f.ops.Replay(f.ctx, ReplayOptions{Ticket: "T1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != 1 || res.Skipped != 1 || res.Replayed != 0 || f.lastSeq(t, bus.StreamContacts) != before ||
		f.msgs(t, bus.StreamDLQ) != 1 {
		t.Fatalf("replay of a non-delta: %+v", res)
	}
}

func TestPurgeDeletesOnlyMatching(t *testing.T) {
	f := newFixture(t)
	a := f.deadLetter(t, "emea", "MC_1", 1, "INVALID_EMAIL_ADDRESS", "bad")
	b := f.deadLetter(t, "emea", "MC_2", 1, "STRING_TOO_LONG", "too long")
	c := f.deadLetter(t, "apac", "AP_1", 1, "INVALID_EMAIL_ADDRESS", "bad")
	d := f.deadLetter(t, "apac", "AP_2", 1, "STRING_TOO_LONG", "too long")

	res, err := f.ops.PurgeDeadLetters(f.ctx, DLQFilter{Code: "STRING_TOO_LONG"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != 2 || res.Deleted != 0 || f.msgs(t, bus.StreamDLQ) != 4 {
		t.Fatalf("dry purge: %+v", res)
	}
	res, err = f.ops.PurgeDeadLetters(f.ctx, DLQFilter{Segment: "emea", Code: "STRING_TOO_LONG"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 1 || !slices.Equal(seqsOf(res.Items), []uint64{b}) {
		t.Fatalf("purge: %+v", res)
	}
	// None failed an hour ago yet...
	res, err = f.ops.PurgeDeadLetters(f.ctx, DLQFilter{OlderThan: time.Hour}, false)
	if err != nil || res.Deleted != 0 {
		t.Fatalf("older-than 1h: %+v, %v", res, err)
	}
	left, _ := f.ops.ListDeadLetters(f.ctx, DLQFilter{}, false)
	if !slices.Equal(seqsOf(left), []uint64{a, c, d}) {
		t.Fatalf("left = %v", seqsOf(left))
	}
	// ...but two hours from now they all have.
	f.ops.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	res, err = f.ops.PurgeDeadLetters(f.ctx, DLQFilter{Segment: "apac", OlderThan: time.Hour}, false)
	if err != nil || res.Deleted != 2 {
		t.Fatalf("older-than 1h in 2h: %+v, %v", res, err)
	}
	left, _ = f.ops.ListDeadLetters(f.ctx, DLQFilter{}, false)
	if !slices.Equal(seqsOf(left), []uint64{a}) {
		t.Fatalf("left = %v", seqsOf(left))
	}
}

// Issue 10: replaying a dead letter whose cause is not fixed silently
// dead-lettered it again under a new sequence, and the next replay of the
// same ticket published it once more.
func TestReplayRefusesWhatFailedAgainUnderTheSameTicket(t *testing.T) {
	f := newFixture(t)
	f.deadLetter(t, "emea", "MC_1", 5, "INVALID_EMAIL_ADDRESS", "Email: invalid email address")
	res, err := f.ops.Replay(f.ctx, ReplayOptions{Ticket: "INC-1"})
	if err != nil || res.Replayed != 1 {
		t.Fatalf("first replay: %+v, %v", res, err)
	}
	// The upserter refuses the replayed delta again: dead-letter it as it does.
	stored, err := f.stream(t, bus.StreamContacts).GetMsg(f.ctx, res.Items[0].StreamSeq)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.PublishDeadLetter(f.ctx, f.js, bus.DeadLetter{Subject: stored.Subject, Data: stored.Data, Header: stored.Header,
		ErrorCode: "INVALID_EMAIL_ADDRESS", Message: "Email: invalid email address", Deliveries: 1, StreamSeq: stored.Sequence}); err != nil {
		t.Fatal(err)
	}
	res, err = f.ops.Replay(f.ctx, ReplayOptions{Ticket: "INC-1"})
	if err != nil || res.Refused != 1 || res.FailedAgain != 1 || res.Replayed != 0 || f.msgs(t, bus.StreamDLQ) != 1 {
		t.Fatalf("same ticket again: %+v, %v", res, err)
	}
	_, _, cerr := runCLIWith(t, f, "dlq", "replay", "--ticket", "INC-1")
	if cli.ExitCode(cerr) != 1 || !strings.Contains(cerr.Error(), "--force") {
		t.Fatalf("CLI same ticket: %v", cerr)
	}
	res, err = f.ops.Replay(f.ctx, ReplayOptions{Ticket: "INC-2", DryRun: true})
	if err != nil || res.Refused != 0 || res.FailedAgain != 1 || !strings.Contains(res.Items[0].Reason, "after replay under ticket INC-1") {
		t.Fatalf("new ticket: %+v, %v", res, err)
	}
	res, err = f.ops.Replay(f.ctx, ReplayOptions{Ticket: "INC-1", Force: true})
	if err != nil || res.Replayed != 1 || res.Refused != 0 {
		t.Fatalf("--force: %+v, %v", res, err)
	}
}

func runCLIWith(t *testing.T, f *fixture, args ...string) (string, string, error) {
	t.Helper()
	t.Setenv("NATS_URL", f.e.ClientURL())
	return runCLI(t, args...)
}

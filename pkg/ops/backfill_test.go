package ops

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/delta"
)

func TestBackfillRedrivesOnlyTheSegment(t *testing.T) {
	f := newFixture(t)
	var emea []uint64
	for i, id := range []string{"E1", "E2", "E.3", "E1", "E2"} {
		emea = append(emea, f.publishDelta(t, "emea", id, int64(100+i)))
		f.publishDelta(t, "apac", fmt.Sprintf("A%d", i), int64(100+i))
	}
	before := f.lastSeq(t, bus.StreamContacts)

	dry, err := f.ops.Backfill(f.ctx, BackfillOptions{Segment: "emea", Ticket: "BF-1", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Read != 5 || dry.WouldPublish != 5 || dry.Published != 0 || f.lastSeq(t, bus.StreamContacts) != before {
		t.Fatalf("dry run: %+v", dry)
	}

	var progress []BackfillResult
	res, err := f.ops.Backfill(f.ctx, BackfillOptions{Segment: "emea", Ticket: "BF-1", Rate: 1000,
		Progress: func(r BackfillResult) { progress = append(progress, r) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Read != 5 || res.Published != 5 || res.Duplicates != 0 || res.FirstSeq != emea[0] || res.LastSeq != emea[4] {
		t.Fatalf("backfill: %+v", res)
	}
	if len(progress) == 0 || progress[len(progress)-1].Published != 5 {
		t.Fatalf("progress = %+v", progress)
	}
	copies := f.storedAfter(t, before)
	if len(copies) != 5 {
		t.Fatalf("backfill stored %d, want 5", len(copies))
	}
	contacts := f.stream(t, bus.StreamContacts)
	for i, m := range copies {
		orig, err := contacts.GetMsg(f.ctx, emea[i])
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != orig.Subject || string(m.Data) != string(orig.Data) {
			t.Errorf("copy %d: %s %s, original %s %s", i, m.Subject, m.Data, orig.Subject, orig.Data)
		}
		if got, want := m.Header.Get("Nats-Msg-Id"), fmt.Sprintf("backfill:BF-1:%d", emea[i]); got != want {
			t.Errorf("copy %d Nats-Msg-Id = %q, want %q", i, got, want)
		}
		if m.Header.Get(delta.HeaderExternalID) != orig.Header.Get(delta.HeaderExternalID) ||
			m.Header.Get(HeaderReplayOf) != fmt.Sprintf("CONTACTS:%d", emea[i]) {
			t.Errorf("copy %d headers %v", i, m.Header)
		}
	}
	// Other segments untouched.
	bySeg, err := f.ops.countBySegment(f.ctx, bus.StreamContacts, "contacts.delta.>")
	if err != nil {
		t.Fatal(err)
	}
	if bySeg["emea"] != 10 || bySeg["apac"] != 5 {
		t.Fatalf("by segment after backfill = %v", bySeg)
	}

	// The same ticket again stores nothing: originals dedup, its own copies skipped.
	mid := f.lastSeq(t, bus.StreamContacts)
	res, err = f.ops.Backfill(f.ctx, BackfillOptions{Segment: "emea", Ticket: "BF-1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Read != 10 || res.Published != 0 || res.Duplicates != 5 || res.Skipped != 5 || f.lastSeq(t, bus.StreamContacts) != mid {
		t.Fatalf("second backfill: %+v", res)
	}

	// From a sequence: only the later deltas.
	res, err = f.ops.Backfill(f.ctx, BackfillOptions{Segment: "emea", Ticket: "BF-2", SinceSeq: emea[3]})
	if err != nil {
		t.Fatal(err)
	}
	// emea[3], emea[4] and the five BF-1 copies (a new ticket re-drives them too).
	if res.Read != 7 || res.Published != 7 || res.FirstSeq != emea[3] {
		t.Fatalf("since-seq backfill: %+v", res)
	}
	if _, err := f.ops.Backfill(f.ctx, BackfillOptions{Segment: "emea"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no ticket: %v", err)
	}
	if _, err := f.ops.Backfill(f.ctx, BackfillOptions{Segment: "e.*", Ticket: "x"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad segment: %v", err)
	}
}

func TestBackfillSinceTime(t *testing.T) {
	f := newFixture(t)
	f.publishDelta(t, "emea", "E1", 1)
	second := f.publishDelta(t, "emea", "E2", 1)
	m, err := f.stream(t, bus.StreamContacts).GetMsg(f.ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.ops.Backfill(f.ctx, BackfillOptions{Segment: "emea", Ticket: "T", Since: m.Time, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Read != 1 || res.FirstSeq != second {
		t.Fatalf("since %v: %+v", m.Time, res)
	}
	// An empty segment ends at once.
	res, err = f.ops.Backfill(f.ctx, BackfillOptions{Segment: "latam", Ticket: "T"})
	if err != nil || res.Read != 0 {
		t.Fatalf("empty segment: %+v %v", res, err)
	}
}

func TestBackfillFileRejectsLinesWithNumbers(t *testing.T) {
	f := newFixture(t)
	line := func(seg, id string, v int) string {
		return fmt.Sprintf(`{"schema":"contact.delta/v1","external_id":%q,"segment":%q,"version":%d,"fields":{"LastName":"Doe"}}`, id, seg, v)
	}
	file := strings.Join([]string{
		line("emea", "F1", 1),
		"",
		line("apac", "F2", 1),
		`{"schema":"contact.delta/v1",`,
		line("emea", "F3", 7),
		line("emea", "F1", 1), // same delta twice: stored once
	}, "\n") + "\n"
	before := f.lastSeq(t, bus.StreamContacts)
	res, err := f.ops.BackfillFile(f.ctx, strings.NewReader(file), BackfillOptions{Segment: "emea", Ticket: "SRC-1"})
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
	var lines []int
	for _, r := range res.Rejected {
		lines = append(lines, r.Line)
	}
	if !slices.Equal(lines, []int{3, 4}) || !strings.Contains(res.Rejected[0].Reason, `"apac"`) {
		t.Fatalf("rejected = %+v", res.Rejected)
	}
	if res.Read != 5 || res.Published != 2 || res.Duplicates != 1 {
		t.Fatalf("file backfill: %+v", res)
	}
	got := f.storedAfter(t, before)
	if len(got) != 2 || got[0].Subject != storedSubject("emea", "F1") || got[1].Subject != storedSubject("emea", "F3") ||
		got[1].Header.Get("Nats-Msg-Id") != "backfill:SRC-1:F3:7" || got[1].Header.Get(delta.HeaderExternalID) != "F3" {
		t.Fatalf("stored %+v", got)
	}
	// The same file under the same ticket: nothing new.
	res, err = f.ops.BackfillFile(f.ctx, strings.NewReader(file), BackfillOptions{Segment: "emea", Ticket: "SRC-1"})
	if !errors.Is(err, ErrRejected) || res.Published != 0 || res.Duplicates != 3 || len(f.storedAfter(t, before)) != 2 {
		t.Fatalf("second file backfill: %+v %v", res, err)
	}
}

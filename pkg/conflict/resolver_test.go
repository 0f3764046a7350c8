package conflict_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
	"github.com/contactsync/contactsync/pkg/worker"
)

const extField = conflict.DefaultExternalIDField

var seenAt = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

type env struct {
	srv *sfsimtest.Org
	sf  *salesforce.Client
}

func newEnv(t *testing.T, dupAction string) *env {
	t.Helper()
	srv := sfsimtest.Start(t, sfsim.Config{DuplicateAction: dupAction})
	sf := srv.Client(t, func(c *salesforce.Config) { c.MaxRetryElapsed = -1 })
	return &env{srv: srv, sf: sf}
}

func (e *env) seed(t *testing.T, fields map[string]any) string {
	t.Helper()
	id, err := e.srv.Insert("Contact", fields)
	if err != nil {
		t.Fatalf("seed %v: %v", fields, err)
	}
	return id
}

func contactDelta(ext, email, last string) delta.Delta {
	return delta.Delta{Schema: delta.SchemaV1, ExternalID: ext, Segment: "emea", Version: 1,
		Fields: map[string]any{"LastName": last, "Email": email}}
}

// upsert sends ds the way the upserter does and returns the refusals (in
// order) and how many records were written directly.
func (e *env) upsert(t *testing.T, ds []delta.Delta) ([]conflict.Refusal, int) {
	t.Helper()
	recs := make([]salesforce.Record, len(ds))
	for i, d := range ds {
		r := salesforce.Record{}
		for k, v := range d.Fields {
			r[k] = v
		}
		r[extField] = d.ExternalID
		recs[i] = r
	}
	res, err := e.sf.UpsertCollection(context.Background(), "Contact", extField, recs, salesforce.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var refusals []conflict.Refusal
	ok := 0
	for i, r := range res {
		if r.Success {
			ok++
			continue
		}
		if len(r.Errors) == 0 {
			t.Fatalf("record %d failed without an error", i)
		}
		switch code := r.Errors[0].StatusCode; code {
		case salesforce.CodeDuplicatesDetected, salesforce.CodeDuplicateExternalID:
			refusals = append(refusals, conflict.Refusal{Delta: ds[i], Err: r.Errors[0]})
		default:
			t.Fatalf("record %d: unexpected %s: %s", i, code, r.Errors[0].Message)
		}
	}
	return refusals, ok
}

func (e *env) contacts() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, r := range e.srv.Records("Contact") {
		out[r["Id"].(string)] = r
	}
	return out
}

func (e *env) resolver(p conflict.Policy) *conflict.Resolver {
	return conflict.NewResolver(e.sf, conflict.Config{DefaultPolicy: p, Now: func() time.Time { return seenAt }}, nil)
}

func str(v any) string { s, _ := v.(string); return s }

// TestResolvePolicies runs every policy through every case of the policy
// table against the emulator, with Allow+alert and with Block rules, and
// checks the outcome, the event and Salesforce's state afterwards.
func TestResolvePolicies(t *testing.T) {
	type want struct {
		action worker.Outcome
		kind   conflict.Kind // "" = no event
		check  func(t *testing.T, e *env, ids []string, o conflict.Verdict)
	}
	// state checks
	linkedTo := func(i int, ext, last string, count int) func(*testing.T, *env, []string, conflict.Verdict) {
		return func(t *testing.T, e *env, ids []string, o conflict.Verdict) {
			cs := e.contacts()
			if len(cs) != count {
				t.Errorf("%d contacts, want %d", len(cs), count)
			}
			c := cs[ids[i]]
			if !strings.EqualFold(str(c[extField]), ext) || str(c["LastName"]) != last {
				t.Errorf("contact %s = %v; want %s=%s LastName=%s", ids[i], c, extField, ext, last)
			}
			if o.ID != "" && o.ID != ids[i] {
				t.Errorf("outcome ID %s, want %s", o.ID, ids[i])
			}
		}
	}
	untouched := func(count int) func(*testing.T, *env, []string, conflict.Verdict) {
		return func(t *testing.T, e *env, ids []string, o conflict.Verdict) {
			cs := e.contacts()
			if len(cs) != count {
				t.Errorf("%d contacts, want %d", len(cs), count)
			}
			for _, c := range cs {
				if strings.EqualFold(str(c[extField]), "MC_1") && len(ids) > 0 && !slices.Contains(ids, str(c["Id"])) {
					t.Errorf("a contact was written with MC_1: %v", c)
				}
				if str(c["LastName"]) == "Doe" {
					t.Errorf("contact written: %v", c)
				}
			}
		}
	}
	created := func(t *testing.T, e *env, ids []string, o conflict.Verdict) {
		cs := e.contacts()
		if len(cs) != 2 {
			t.Fatalf("%d contacts, want 2", len(cs))
		}
		n := cs[o.ID]
		if o.ID == ids[0] || !strings.EqualFold(str(n[extField]), "MC_1") || str(n["Email"]) != "jane@example.com" {
			t.Errorf("new contact %s = %v", o.ID, n)
		}
		if str(cs[ids[0]][extField]) != "MC_OLD" {
			t.Errorf("existing contact changed: %v", cs[ids[0]])
		}
	}

	type tcase struct {
		name     string
		dup      string
		seed     []map[string]any
		incoming delta.Delta
		want     map[conflict.Policy]want
	}
	jane := contactDelta("MC_1", "Jane@Example.com", "Doe")
	all := func(w want) map[conflict.Policy]want {
		return map[conflict.Policy]want{conflict.Strict: w, conflict.ExternalID: w, conflict.Email: w}
	}
	cases := []tcase{
		{name: "unlinked", dup: "allow-alert",
			seed:     []map[string]any{{"LastName": "Old", "Email": "jane@example.com"}},
			incoming: jane,
			want:     all(want{worker.Adopted, "", linkedTo(0, "MC_1", "Doe", 1)})},
		{name: "unlinked, Block rule", dup: "block",
			seed:     []map[string]any{{"LastName": "Old", "Email": "jane@example.com"}},
			incoming: jane,
			want:     all(want{worker.Adopted, "", linkedTo(0, "MC_1", "Doe", 1)})},
		{name: "linked to another external ID", dup: "allow-alert",
			seed:     []map[string]any{{"LastName": "Old", "Email": "jane@example.com", extField: "MC_OLD"}},
			incoming: jane,
			want: map[conflict.Policy]want{
				conflict.Strict:     {worker.Held, conflict.KindEmailConflict, untouched(1)},
				conflict.ExternalID: {worker.Created, conflict.KindDuplicateCreated, created},
				conflict.Email:      {worker.Rekeyed, conflict.KindRekeyed, linkedTo(0, "MC_1", "Doe", 1)},
			}},
		{name: "linked to another external ID, Block rule", dup: "block",
			seed:     []map[string]any{{"LastName": "Old", "Email": "jane@example.com", extField: "MC_OLD"}},
			incoming: jane,
			want: map[conflict.Policy]want{
				conflict.Strict:     {worker.Held, "", untouched(1)}, // kind checked below
				conflict.ExternalID: {worker.Held, conflict.KindBlockedByRule, untouched(1)},
				conflict.Email:      {worker.Rekeyed, conflict.KindRekeyed, linkedTo(0, "MC_1", "Doe", 1)},
			}},
		{name: "several contacts", dup: "allow-alert",
			seed: []map[string]any{{"LastName": "A", "Email": "jane@example.com", extField: "MC_OLD"},
				{"LastName": "B", "Email": "jane@example.com"}},
			incoming: jane,
			want:     all(want{worker.Held, conflict.KindAmbiguousEmail, untouched(2)})},
		{name: "several contacts, Block rule", dup: "block",
			seed: []map[string]any{{"LastName": "A", "Email": "jane@example.com"},
				{"LastName": "B", "Email": "jane@example.com"}},
			incoming: jane,
			want:     all(want{worker.Held, conflict.KindAmbiguousEmail, untouched(2)})},
		{name: "multiple external-ID matches", dup: "allow-alert",
			seed: []map[string]any{{"LastName": "A", "Email": "a@example.com", extField: "MC_1"},
				{"LastName": "B", "Email": "b@example.com", extField: "mc_1"}},
			incoming: jane,
			want:     all(want{worker.Held, conflict.KindMultipleExternalIDMatches, untouched(2)})},
		{name: "external ID already on another contact", dup: "allow-alert",
			seed: []map[string]any{{"LastName": "Unlinked", "Email": "jane@example.com"},
				{"LastName": "Linked", "Email": "old@example.com", extField: "MC_1"}},
			incoming: jane,
			want: map[conflict.Policy]want{
				conflict.Strict:     {worker.Held, conflict.KindEmailConflict, untouched(2)},
				conflict.ExternalID: {worker.Held, conflict.KindEmailConflict, untouched(2)},
				conflict.Email:      {worker.Held, conflict.KindEmailConflict, untouched(2)},
			}},
	}
	for _, c := range cases {
		for _, p := range conflict.Policies {
			w := c.want[p]
			t.Run(c.name+"/"+string(p), func(t *testing.T) {
				e := newEnv(t, c.dup)
				var ids []string
				for _, f := range c.seed {
					ids = append(ids, e.seed(t, f))
				}
				refusals, _ := e.upsert(t, []delta.Delta{c.incoming})
				if len(refusals) != 1 {
					t.Fatalf("upsert was not refused: %d refusals", len(refusals))
				}
				outs, err := e.resolver(p).Resolve(context.Background(), refusals)
				if err != nil {
					t.Fatal(err)
				}
				if len(outs) != 1 {
					t.Fatalf("%d outcomes", len(outs))
				}
				o := outs[0]
				if o.Outcome != w.action {
					t.Fatalf("outcome %s (err %v), want %s", o.Outcome, o.Err, w.action)
				}
				wantKind := w.kind
				if c.dup == "block" && p == conflict.Strict && c.name == "linked to another external ID, Block rule" {
					// Strict writes nothing either way; the kind says Block
					// only when the refusal carried allowSave=false.
					wantKind = conflict.KindEmailConflict
					if dr := refusals[0].Err.DuplicateResult; dr != nil && !dr.AllowSave {
						wantKind = conflict.KindBlockedByRule
					}
				}
				switch {
				case wantKind == "" && o.Event != nil:
					t.Fatalf("unexpected event %+v", *o.Event)
				case wantKind != "" && o.Event == nil:
					t.Fatalf("no event, want %s", wantKind)
				case wantKind != "":
					ev := o.Event
					if ev.Kind != wantKind || ev.Policy != p || ev.Segment != "emea" || ev.IncomingExternalID != "MC_1" ||
						ev.SourceVersion != 1 || !ev.SeenAt.Equal(seenAt) || len(ev.Delta) == 0 {
						t.Fatalf("event %+v, want kind %s", *ev, wantKind)
					}
					if ev.Kind != conflict.KindMultipleExternalIDMatches && ev.Email != "jane@example.com" {
						t.Errorf("event email %q", ev.Email)
					}
					got, want := id15(ev.ExistingIDs), id15(ids)
					if !slices.Equal(got, want) {
						t.Errorf("existing IDs %v, want %v", got, want)
					}
				}
				w.check(t, e, ids, o)

				// A second run of the same delta settles without a new kind of
				// outcome: the key of any event repeats.
				if o.Event != nil && o.Outcome == worker.Held {
					again, _ := e.upsert(t, []delta.Delta{c.incoming})
					if len(again) == 1 {
						outs2, err := e.resolver(p).Resolve(context.Background(), again)
						if err != nil {
							t.Fatal(err)
						}
						if outs2[0].Event == nil || outs2[0].Event.Key() != o.Event.Key() {
							t.Errorf("replay: %+v, want the same event key", outs2[0])
						}
					}
				}
			})
		}
	}
}

// TestResolveAdoptionOff: with SYNC_ADOPT_UNLINKED=false an unlinked contact
// is held as Email_Conflict.
func TestResolveAdoptionOff(t *testing.T) {
	e := newEnv(t, "allow-alert")
	id := e.seed(t, map[string]any{"LastName": "Old", "Email": "jane@example.com"})
	refusals, _ := e.upsert(t, []delta.Delta{contactDelta("MC_1", "jane@example.com", "Doe")})
	r := conflict.NewResolver(e.sf, conflict.Config{NoAdoptUnlinked: true}, nil)
	outs, err := r.Resolve(context.Background(), refusals)
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Outcome != worker.Held || outs[0].Event == nil || outs[0].Event.Kind != conflict.KindEmailConflict {
		t.Fatalf("outcome %+v", outs[0])
	}
	if c := e.contacts()[id]; str(c[extField]) != "" {
		t.Fatalf("contact adopted: %v", c)
	}
}

// TestResolveEscapedEmails: emails with quotes, backslashes and mixed case
// find their contacts through the one escaped IN query.
func TestResolveEscapedEmails(t *testing.T) {
	e := newEnv(t, "allow-alert")
	emails := []string{`o'brien@example.com`, `back\slash@example.com`, `quote"d@example.com`, `MiXeD.Case@Example.COM`,
		`it's'\'x@example.com`}
	var ds []delta.Delta
	ids := map[string]string{}
	for i, em := range emails {
		id, err := e.srv.Insert("Contact", map[string]any{"LastName": "Old", "Email": strings.ToLower(em)})
		if err != nil {
			t.Logf("emulator refuses %q as an email (%v); skipped", em, err)
			continue
		}
		ext := fmt.Sprintf("MC_%d", i)
		ids[ext] = id
		ds = append(ds, contactDelta(ext, strings.ToUpper(em[:1])+em[1:], "Doe"))
	}
	if len(ds) < 3 {
		t.Fatalf("only %d emails accepted by the emulator", len(ds))
	}
	refusals, _ := e.upsert(t, ds)
	if len(refusals) != len(ds) {
		t.Fatalf("%d refusals for %d deltas", len(refusals), len(ds))
	}
	before := e.srv.Stats().APICalls
	outs, err := e.resolver(conflict.Strict).Resolve(context.Background(), refusals)
	if err != nil {
		t.Fatal(err)
	}
	if calls := e.srv.Stats().APICalls - before; calls != 2 {
		t.Errorf("%d API calls, want 2 (one query, one update)", calls)
	}
	for i, o := range outs {
		ext := refusals[i].Delta.ExternalID
		if o.Outcome != worker.Adopted || o.ID != ids[ext] {
			t.Errorf("%s (%s): outcome %+v, want adopted %s", ext, refusals[i].Delta.Fields["Email"], o, ids[ext])
		}
	}
}

// TestResolveBatchBudget: a batch of 200 deltas of which 50 conflict costs at
// most 3 API calls beyond the upsert: one query, one update, one upsert.
func TestResolveBatchBudget(t *testing.T) {
	e := newEnv(t, "allow-alert")
	var ds []delta.Delta
	for i := range 200 {
		email := fmt.Sprintf("person%03d@example.com", i)
		switch {
		case i%4 == 0 && i < 100: // 25 unlinked contacts: adopt
			e.seed(t, map[string]any{"LastName": "Old", "Email": email})
		case i%4 == 0: // 25 linked to another external ID: save anyway
			e.seed(t, map[string]any{"LastName": "Old", "Email": email, extField: fmt.Sprintf("OTHER_%d", i)})
		}
		ds = append(ds, contactDelta(fmt.Sprintf("MC_%03d", i), email, "Doe"))
	}
	refusals, ok := e.upsert(t, ds)
	if len(refusals) != 50 || ok != 150 {
		t.Fatalf("%d refusals, %d written; want 50 and 150", len(refusals), ok)
	}
	before := e.srv.Stats().APICalls
	outs, err := e.resolver(conflict.ExternalID).Resolve(context.Background(), refusals)
	if err != nil {
		t.Fatal(err)
	}
	calls := e.srv.Stats().APICalls - before
	t.Logf("resolving 50 conflicts of a 200-record batch cost %d API calls", calls)
	if calls > 3 {
		t.Errorf("%d API calls, want <= 3", calls)
	}
	count := map[worker.Outcome]int{}
	for _, o := range outs {
		count[o.Outcome]++
	}
	if count[worker.Adopted] != 25 || count[worker.Created] != 25 {
		t.Fatalf("outcomes %v", count)
	}
	if n := len(e.srv.Records("Contact")); n != 225 {
		t.Fatalf("%d contacts, want 225", n)
	}
}

// TestResolveSameContactTwice: two refusals of one batch that would write the
// same contact: the first is applied, the second is retried (and then sees
// the contact linked).
func TestResolveSameContactTwice(t *testing.T) {
	e := newEnv(t, "allow-alert")
	id := e.seed(t, map[string]any{"LastName": "Old", "Email": "jane@example.com", extField: "MC_OLD"})
	refusals, _ := e.upsert(t, []delta.Delta{contactDelta("MC_1", "jane@example.com", "One"), contactDelta("MC_2", "jane@example.com", "Two")})
	if len(refusals) != 2 {
		t.Fatalf("%d refusals", len(refusals))
	}
	outs, err := e.resolver(conflict.Email).Resolve(context.Background(), refusals)
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Outcome != worker.Rekeyed || outs[1].Outcome != worker.Retried {
		t.Fatalf("outcomes %+v", outs)
	}
	if c := e.contacts()[id]; str(c[extField]) != "MC_1" {
		t.Fatalf("contact %v", c)
	}
}

// TestResolveWriteFailures: a permanent per-record failure of the policy's
// write is a dead letter carrying Salesforce's error; a whole-call failure
// is returned.
func TestResolveWriteFailures(t *testing.T) {
	e := newEnv(t, "allow-alert")
	e.seed(t, map[string]any{"LastName": "Old", "Email": "jane@example.com"})
	d := contactDelta("MC_1", "jane@example.com", "Doe")
	refusals, _ := e.upsert(t, []delta.Delta{d})
	// The same refusal, now carrying a field Salesforce refuses on update.
	refusals[0].Delta.Fields = map[string]any{"LastName": strings.Repeat("x", 81), "Email": "jane@example.com"}
	outs, err := e.resolver(conflict.Strict).Resolve(context.Background(), refusals)
	if err != nil {
		t.Fatal(err)
	}
	var ae *salesforce.APIError
	if outs[0].Outcome != worker.DeadLettered || !errorsAs(outs[0].Err, &ae) || ae.ErrorCode != "STRING_TOO_LONG" {
		t.Fatalf("outcome %+v", outs[0])
	}

	e.srv.SetFaults(sfsim.Faults{ErrorRate: 1, Errors: []string{"SERVER_UNAVAILABLE"}})
	if _, err := e.resolver(conflict.Strict).Resolve(context.Background(), refusals); err == nil {
		t.Fatal("Resolve succeeded with Salesforce down")
	}
}

// id15 sorts Ids in their 15-character form (messages may carry that form).
func id15(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id[:min(15, len(id))]
	}
	sort.Strings(out)
	return out
}

// TestResolveMixedSegmentsOneBudget: a partition's batch mixes segments; each
// refusal follows its segment's policy, and the whole batch still costs one
// lookup, one update and one save-anyway call.
func TestResolveMixedSegmentsOneBudget(t *testing.T) {
	e := newEnv(t, "allow-alert")
	var ds []delta.Delta
	segs := []string{"emea", "amer", "apac"}
	for i := range 30 {
		em := fmt.Sprintf("mix%d@example.com", i)
		e.seed(t, map[string]any{"LastName": "Old", "Email": em, extField: fmt.Sprintf("OLD_%d", i)})
		d := contactDelta(fmt.Sprintf("NEW_%d", i), em, "New")
		d.Segment = segs[i%3]
		ds = append(ds, d)
	}
	refusals, _ := e.upsert(t, ds)
	if len(refusals) != 30 {
		t.Fatalf("%d refusals, want 30", len(refusals))
	}
	r := conflict.NewResolver(e.sf, conflict.Config{DefaultPolicy: conflict.Strict,
		Segments: map[string]conflict.Policy{"amer": conflict.ExternalID, "apac": conflict.Email}}, nil)
	before := e.srv.Stats().APICalls
	outs, err := r.Resolve(context.Background(), refusals)
	if err != nil {
		t.Fatal(err)
	}
	if calls := e.srv.Stats().APICalls - before; calls > 3 {
		t.Errorf("mixed-segment batch cost %d calls, want at most 3", calls)
	}
	want := map[string]worker.Outcome{"emea": worker.Held, "amer": worker.Created, "apac": worker.Rekeyed}
	for i, o := range outs {
		seg := refusals[i].Delta.Segment
		if o.Outcome != want[seg] {
			t.Errorf("refusal %d (%s): outcome %s, want %s", i, seg, o.Outcome, want[seg])
		}
		if o.Event == nil || o.Event.Segment != seg {
			t.Errorf("refusal %d: event %+v, want one for segment %s", i, o.Event, seg)
		}
	}
}

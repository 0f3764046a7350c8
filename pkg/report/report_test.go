package report_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/ops"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/report"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
	"github.com/contactsync/contactsync/pkg/upsert"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"))
}

// org is a seeded emulator org after a real pipeline run, with known
// answers for each report.
type org struct {
	sim     *sfsimtest.Org
	sf      *salesforce.Client
	js      jetstream.JetStream
	ops     *ops.Ops
	ids     map[string]string // external ID → Salesforce Id
	edited  string            // the contact edited by hand after the sync
	editAt  time.Time         // just before the edit, after every other write
	srcFile string            // a source export: the synced IDs in other case, plus one missing
}

func deltaLine(t *testing.T, id string, v int64, fields map[string]any) string {
	t.Helper()
	b, err := json.Marshal(delta.Delta{Schema: delta.SchemaV1, ExternalID: id, Segment: "emea", Version: v, Fields: fields})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func seed(t *testing.T) *org {
	t.Helper()
	ctx := context.Background()
	e, js := bustest.Start(t, bus.Topology{})
	sim := sfsimtest.Start(t, sfsim.Config{})
	o := &org{sim: sim, js: js, ops: ops.New(js, nil), ids: map[string]string{}}

	// In the org before the sync: a contact that the fleet's MC_HELD will
	// collide with by email (held: report 2), two linked contacts sharing
	// an email (report 1), and one the source never heard of (report 3).
	mustInsert := func(ext, email string) string {
		f := map[string]any{"LastName": "Seed " + ext, "Email": email}
		if ext != "" {
			f["External_Contact_ID__c"] = ext
		}
		id, err := sim.Insert("Contact", f)
		if err != nil {
			t.Fatal(err)
		}
		o.ids[ext] = id
		return id
	}
	mustInsert("LEGACY_1", "held@example.com")
	mustInsert("SHARE_A", "shared@example.com")
	mustInsert("SHARE_B", "Shared@Example.com")
	mustInsert("ORPHAN_1", "orphan@example.com")

	var lines []string
	for _, id := range []string{"MC_1", "MC_2", "MC_3", "MC_4"} {
		lines = append(lines, deltaLine(t, id, 10, map[string]any{"LastName": "Doe " + id, "FirstName": "Jane", "Email": strings.ToLower(id) + "@example.com"}))
	}
	lines = append(lines,
		deltaLine(t, "MC_2", 11, map[string]any{"Title": "Buyer"}), // the last write of MC_2 covers Title only
		deltaLine(t, "MC_HELD", 10, map[string]any{"LastName": "Held", "Email": "held@example.com"}),
		deltaLine(t, "MC_BAD", 10, map[string]any{"LastName": "Bad", "Email": "not-an-email"}),
	)
	in := filepath.Join(t.TempDir(), "deltas.ndjson")
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := pipeline.Run(ctx, pipeline.Config{NATSURL: e.ClientURL(), Upserters: 1, Input: in, Timeout: 2 * time.Minute,
		SF: sim.Config,
		Upsert: upsert.Config{Heartbeat: 200 * time.Millisecond, LeaseTTL: 2 * time.Second, AckWait: 5 * time.Second, MaxDelay: 200 * time.Millisecond,
			LimitCheckInterval: 200 * time.Millisecond, ShutdownTimeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Created != 4 || sum.Held != 1 || sum.DeadLettered != 1 || len(sum.Gaps) > 0 {
		t.Fatalf("the sync should create 4, hold MC_HELD and dead-letter MC_BAD: %+v", sum)
	}
	o.sf = sim.Client(t)
	for _, r := range sim.Records("Contact") {
		if ext, _ := r["External_Contact_ID__c"].(string); ext != "" {
			o.ids[ext] = r["Id"].(string)
		}
	}

	// After the sync, a person edits MC_3's last name in Salesforce. Every
	// earlier write is older than editAt (waited for, on the clock).
	var last time.Time
	for _, r := range sim.Records("Contact") {
		if tm, ok := r["LastModifiedDate"].(time.Time); ok && tm.After(last) {
			last = tm
		}
	}
	for !time.Now().After(last.Add(time.Millisecond)) {
	}
	o.editAt = time.Now().Truncate(time.Millisecond)
	o.edited = o.ids["MC_3"]
	if err := o.sf.Update(ctx, "Contact", o.edited, salesforce.Record{"LastName": "Doe-Smith"}, salesforce.WriteOptions{}); err != nil {
		t.Fatal(err)
	}

	// The source export: the synced IDs spelled in lower case (Salesforce
	// matches them ignoring case), MC_HELD and MC_BAD (never written), and
	// MC_GONE, which Salesforce never had.
	var src []string
	for _, id := range []string{"mc_1", "mc_2", "Mc_3", "MC_4", "MC_HELD", "MC_BAD", "MC_GONE", "share_a", "SHARE_B", "legacy_1"} {
		src = append(src, deltaLine(t, id, 20, map[string]any{"LastName": "x"}))
	}
	o.srcFile = filepath.Join(t.TempDir(), "export.ndjson")
	if err := os.WriteFile(o.srcFile, []byte(strings.Join(src, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return o
}

func (o *org) run(t *testing.T, src *report.Source, cfg report.Config) *report.Result {
	t.Helper()
	if cfg.Bulk.PollInterval == 0 {
		cfg.Bulk.PollInterval, cfg.Bulk.MaxPollInterval = 20*time.Millisecond, 100*time.Millisecond
	}
	res, err := o.ops.DailyReport(context.Background(), ops.DailyOptions{Org: o.sf, Source: src, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func sorted(s []string) []string { sort.Strings(s); return s }

func TestDailyReports(t *testing.T) {
	o := seed(t)
	src, err := report.LoadFile(o.srcFile, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		threshold int
		via       string
	}{{"paged SOQL", -1, "soql"}, {"Bulk query", 1, "bulk"}} {
		t.Run(tc.name, func(t *testing.T) {
			res := o.run(t, src, report.Config{BulkThreshold: tc.threshold})
			checkReports(t, o, res)
			var export *report.Call
			for i := range res.Calls {
				if res.Calls[i].Read == "contacts" {
					export = &res.Calls[i]
				}
			}
			if export == nil || export.Via != tc.via || export.Rows != 8 || export.Calls < 1 {
				t.Errorf("contact export = %+v, want %s, 8 rows, its calls counted", export, tc.via)
			}
		})
	}

	// Without --source, report 3 compares with what the fleet applied.
	t.Run("fleet state as source", func(t *testing.T) {
		res := o.run(t, nil, report.Config{})
		var unknown, missing []string
		for _, g := range res.Gaps {
			switch g.Problem {
			case report.GapUnknown:
				unknown = append(unknown, g.SFExternalID)
			case report.GapMissing:
				missing = append(missing, g.SourceExternalID)
			}
		}
		if want := "LEGACY_1 ORPHAN_1 SHARE_A SHARE_B"; strings.Join(sorted(unknown), " ") != want || len(missing) != 0 {
			t.Errorf("against the fleet's state: unknown %v (want %s), missing %v (want none)", unknown, want, missing)
		}
	})

	// A case-sensitive comparison sees the other spellings as different IDs.
	t.Run("case-sensitive", func(t *testing.T) {
		res := o.run(t, src, report.Config{CaseSensitiveIDs: true})
		if n := res.Totals().MissingFromSF; n < 4 {
			t.Errorf("case-sensitive: %d missing, want the lower-case spellings counted too", n)
		}
	})
}

func checkReports(t *testing.T, o *org, res *report.Result) {
	t.Helper()
	// 1: SHARE_A and SHARE_B share an email (its case differs too).
	var dup []string
	for _, d := range res.Duplicates {
		dup = append(dup, d.ExternalID+"/"+d.OtherExternalIDs)
		if d.Link != strings.TrimRight(o.sf.InstanceURL(), "/")+"/"+o.ids[d.ExternalID] {
			t.Errorf("report 1 link %q for %s", d.Link, d.ExternalID)
		}
		if strings.Contains(d.Email, "shared@") || !strings.Contains(d.Email, "***") {
			t.Errorf("report 1 email %q not masked", d.Email)
		}
	}
	if got := strings.Join(sorted(dup), " "); got != "SHARE_A/SHARE_B SHARE_B/SHARE_A" {
		t.Errorf("report 1 = %s, want SHARE_A and SHARE_B", got)
	}

	// 2: MC_BAD's dead letter and MC_HELD's exception record.
	var fails []string
	for _, f := range res.Failures {
		fails = append(fails, f.Kind+":"+f.ExternalID+":"+f.Code+":"+f.Status)
		if f.Kind == report.KindException && (f.SalesforceID != o.ids["LEGACY_1"] || f.ExistingExternalID != "LEGACY_1") {
			t.Errorf("report 2 exception names contact %s (%s), want LEGACY_1's", f.SalesforceID, f.ExistingExternalID)
		}
	}
	if got := strings.Join(sorted(fails), " "); got != "dead_letter:MC_BAD:INVALID_EMAIL_ADDRESS:dead_letter exception:MC_HELD:Email_Conflict:New" {
		t.Errorf("report 2 = %s", got)
	}
	if res.DLQByCode["INVALID_EMAIL_ADDRESS"] != 1 {
		t.Errorf("DLQ by code = %v", res.DLQByCode)
	}

	// 3: mc_1…MC_4 match whatever their case; MC_HELD, MC_BAD and MC_GONE
	// are missing; ORPHAN_1 is unknown; MC_3 was edited by hand. MC_2's
	// last write covered Title only, and Title is untouched.
	var gaps []string
	for _, g := range res.Gaps {
		id := g.SourceExternalID
		if id == "" || g.Problem == report.GapDrift {
			id = g.SFExternalID // the fleet's state keeps IDs case-folded
		}
		gaps = append(gaps, g.Problem+":"+id)
		if g.Problem == report.GapDrift && (g.SalesforceID != o.edited || !strings.Contains(g.Fields, "LastName")) {
			t.Errorf("drift row %+v, want MC_3 with LastName among its fields", g)
		}
	}
	want := "drift:MC_3 missing_from_salesforce:MC_BAD missing_from_salesforce:MC_GONE missing_from_salesforce:MC_HELD unknown_to_source:ORPHAN_1"
	if got := strings.Join(sorted(gaps), " "); got != want {
		t.Errorf("report 3 =\n %s\nwant\n %s", got, want)
	}

	// 4: every contact was written within 24 hours.
	if len(res.Recent) != res.Contacts || res.Contacts != 8 {
		t.Errorf("report 4: %d of %d contacts, want all 8", len(res.Recent), res.Contacts)
	}
	if res.APIMax == 0 || res.APIUsed == 0 {
		t.Errorf("API usage %d of %d", res.APIUsed, res.APIMax)
	}
}

// Report 4's window: only what changed after editAt.
func TestUpdatedWindow(t *testing.T) {
	o := seed(t)
	now := time.Now()
	res := o.run(t, nil, report.Config{Now: now, Window: now.Sub(o.editAt)})
	if len(res.Recent) != 1 || res.Recent[0].SalesforceID != o.edited {
		t.Fatalf("updated since the edit: %+v, want only the edited contact", res.Recent)
	}
	if res.Recent[0].ExternalID != "MC_3" {
		t.Errorf("external ID %q", res.Recent[0].ExternalID)
	}
}

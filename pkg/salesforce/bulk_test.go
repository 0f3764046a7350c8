package salesforce_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
)

func TestBulkEncoder(t *testing.T) {
	enc := salesforce.NewBulkEncoder([]string{"External_Contact_ID__c", "LastName", "Title", "Phone"})
	recs := []salesforce.Record{
		{"External_Contact_ID__c": "A", "LastName": "Plain", "Title": nil, "Phone": ""},     // nil and "" are null
		{"External_Contact_ID__c": "B", "LastName": `Says "hi", then`, "Title": " padded "}, // quoted; Phone missing = unchanged
		{"External_Contact_ID__c": "C", "LastName": "two\nlines", "Phone": 42.5},
		{"External_Contact_ID__c": "D", "LastName": map[string]any{}},           // not encodable
		{"External_Contact_ID__c": "E", "LastName": math.NaN()},                 // not encodable
		{"External_Contact_ID__c": "F", "LastName": string([]byte{0xff, 0xfe})}, // not UTF-8
		{"External_Contact_ID__c": "G", "LastName": strings.Repeat("x", 32001)}, // over the field limit
		{"External_Contact_ID__c": "H", "LastName": true},
	}
	for _, r := range recs {
		_ = enc.Add(r)
	}
	ch := enc.Chunks()
	if len(ch) != 1 {
		t.Fatalf("%d chunks", len(ch))
	}
	want := "External_Contact_ID__c,LastName,Title,Phone\n" +
		"A,Plain,#N/A,#N/A\n" +
		"B,\"Says \"\"hi\"\", then\",\" padded \",\n" +
		"C,\"two\nlines\",,42.5\n" +
		"H,true,,\n"
	if got := string(ch[0].Data); got != want {
		t.Fatalf("CSV:\n%q\nwant\n%q", got, want)
	}
	if fmt.Sprint(ch[0].Rows) != "[0 1 2 7]" {
		t.Fatalf("rows %v", ch[0].Rows)
	}
	rej := enc.Rejected()
	if len(rej) != 4 {
		t.Fatalf("rejected %v", rej)
	}
	for i, idx := range []int{3, 4, 5, 6} {
		if rej[i].Index != idx || rej[i].Field != "LastName" || !errors.Is(rej[i], salesforce.ErrNotEncodable) {
			t.Errorf("rejected[%d] = %+v", i, rej[i])
		}
	}
	// Splitting: every upload has the header and stays within MaxBytes.
	enc = salesforce.NewBulkEncoder([]string{"External_Contact_ID__c"})
	enc.MaxBytes = 64
	for i := range 20 {
		_ = enc.Add(salesforce.Record{"External_Contact_ID__c": fmt.Sprintf("key-%03d", i)})
	}
	if err := enc.Add(salesforce.Record{"External_Contact_ID__c": strings.Repeat("k", 80)}); err == nil {
		t.Fatal("a record larger than an upload was accepted")
	}
	total := 0
	for _, c := range enc.Chunks() {
		if len(c.Data) > 64 || !strings.HasPrefix(string(c.Data), "External_Contact_ID__c\n") {
			t.Fatalf("chunk of %d bytes: %q", len(c.Data), c.Data)
		}
		total += len(c.Rows)
	}
	if total != 20 || len(enc.Chunks()) < 4 {
		t.Fatalf("%d rows in %d chunks", total, len(enc.Chunks()))
	}
}

func TestParseBulkError(t *testing.T) {
	for in, want := range map[string]salesforce.RecordError{
		"REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName": {StatusCode: "REQUIRED_FIELD_MISSING", Message: "Required fields are missing: [LastName]", Fields: []string{"LastName"}},
		"INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--":               {StatusCode: "INVALID_CROSS_REFERENCE_KEY", Message: "invalid cross reference id"},
		"DUPLICATES_DETECTED:Use one of these records?:--":                        {StatusCode: "DUPLICATES_DETECTED", Message: "Use one of these records?"},
		"X:a:b:F1,F2": {StatusCode: "X", Message: "a:b", Fields: []string{"F1", "F2"}},
		"garbage":     {StatusCode: "UNKNOWN_EXCEPTION", Message: "garbage"},
	} {
		got := salesforce.ParseBulkError(in)
		if got.StatusCode != want.StatusCode || got.Message != want.Message || fmt.Sprint(got.Fields) != fmt.Sprint(want.Fields) {
			t.Errorf("%q: %+v, want %+v", in, got, want)
		}
	}
	if c := salesforce.ParseBulkError("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access:--").Class(); c != salesforce.ClassTransient {
		t.Errorf("lock row class %v", c)
	}
	if c := salesforce.ParseBulkError("DUPLICATES_DETECTED:dup:--").Class(); c != salesforce.ClassDuplicate {
		t.Errorf("duplicate class %v", c)
	}
}

var fastPoll = salesforce.BulkOptions{PollInterval: time.Millisecond, MaxPollInterval: 5 * time.Millisecond, Wait: 30 * time.Second}

var upsertSpec = salesforce.IngestSpec{Object: contact, Operation: "upsert", ExternalIDField: extField}

func TestRunIngestAgainstEmulator(t *testing.T) {
	e := newEnv(t, sfsim.Config{}, nil)
	if _, err := e.srv.Insert(contact, map[string]any{"LastName": "Old", "Email": "taken@example.com", extField: "OLD"}); err != nil {
		t.Fatal(err)
	}
	fields := []string{extField, "LastName", "Email"}
	var recs []salesforce.Record
	for i := range 30 {
		recs = append(recs, salesforce.Record{extField: fmt.Sprintf("K%02d", i), "LastName": fmt.Sprintf("L%d", i)})
	}
	recs[3]["Email"] = "taken@example.com" // duplicate rule
	delete(recs[4], "LastName")            // required field
	recs[5]["LastName"] = []int{1}         // not encodable
	recs = append(recs, salesforce.Record{extField: "old", "LastName": "Updated"})
	before := e.c.APICalls()
	run, err := e.c.RunIngest(context.Background(), upsertSpec, fields, recs, 120, fastPoll)
	if err != nil {
		t.Fatalf("RunIngest: %v", err)
	}
	if len(run.Jobs) < 3 || run.Unmatched != 0 {
		t.Fatalf("%d jobs (want several uploads of <= 120 bytes), %d unmatched", len(run.Jobs), run.Unmatched)
	}
	for i, o := range run.Outcomes {
		switch i {
		case 3:
			if o.Err == nil || o.Err.Class() != salesforce.ClassDuplicate {
				t.Errorf("row 3: %+v", o)
			}
		case 4:
			if o.Err == nil || o.Err.StatusCode != "REQUIRED_FIELD_MISSING" || o.Err.Class() != salesforce.ClassPermanent {
				t.Errorf("row 4: %+v", o)
			}
		case 5:
			if o.Rejected == nil || o.ID != "" {
				t.Errorf("row 5: %+v", o)
			}
		case 30:
			if o.Err != nil || o.Created || o.ID == "" {
				t.Errorf("update row: %+v", o)
			}
		default:
			if o.Err != nil || !o.Created || !strings.HasPrefix(o.ID, "003") || o.Unprocessed {
				t.Errorf("row %d: %+v", i, o)
			}
		}
	}
	if n := len(e.srv.Records(contact)); n != 1+27 {
		t.Fatalf("%d contacts, want 28", n)
	}
	// Per job: create, upload, close, >= 1 status read, 3 result files.
	if calls := e.c.APICalls() - before; calls < int64(7*len(run.Jobs)) {
		t.Fatalf("%d calls for %d jobs", calls, len(run.Jobs))
	}
}

func TestRunIngestFailedJobLeavesRowsUnprocessed(t *testing.T) {
	e := newEnv(t, sfsim.Config{Faults: sfsim.Faults{BulkFailBatch: 1}}, nil)
	recs := []salesforce.Record{{extField: "A", "LastName": "a"}, {extField: "B", "LastName": "b"}}
	run, err := e.c.RunIngest(context.Background(), upsertSpec, []string{extField, "LastName"}, recs, 0, fastPoll)
	var je *salesforce.BulkJobError
	if !errors.As(err, &je) || je.Job.State != salesforce.JobFailed || !strings.Contains(err.Error(), "bulk_fail_batch") {
		t.Fatalf("err %v", err)
	}
	for i, o := range run.Outcomes {
		if !o.Unprocessed || o.ID != "" || o.Err != nil {
			t.Errorf("row %d: %+v, want unprocessed", i, o)
		}
	}
	if n := len(e.srv.Records(contact)); n != 0 {
		t.Fatalf("%d contacts written", n)
	}
}

func TestWaitBulkJobDeadline(t *testing.T) {
	hold := func(ctx context.Context, d time.Duration) { <-ctx.Done() } // a batch that never ends before Close
	e := newEnv(t, sfsim.Config{BulkRowsPerSecond: 1, Sleep: hold}, nil)
	ch := salesforce.BulkChunk{Data: []byte(extField + ",LastName\nA,a\n"), Rows: []int{0}}
	j, err := e.c.RunIngestChunk(context.Background(), upsertSpec, ch, salesforce.BulkOptions{PollInterval: time.Millisecond, Wait: 20 * time.Millisecond})
	if !errors.Is(err, salesforce.ErrBulkWait) || j.ID == "" || j.State != salesforce.JobInProgress {
		t.Fatalf("job %+v, err %v", j, err)
	}
	if _, err := e.c.AbortJob(context.Background(), "ingest", j.ID); err != nil {
		t.Fatalf("abort: %v", err)
	}
}

// replaceBody makes the emulator's answer to paths ending in suffix carry body.
func replaceBody(e *env, suffix, body string) {
	e.hook.setAfter(func(req *http.Request, res *http.Response, err error) (*http.Response, error) {
		if err == nil && strings.HasSuffix(req.URL.Path, suffix) {
			res.Body.Close()
			res.Body = io.NopCloser(strings.NewReader(body))
			res.ContentLength = int64(len(body))
		}
		return res, err
	})
}

func TestIngestResultsBadInput(t *testing.T) {
	e := newEnv(t, sfsim.Config{}, nil)
	recs := []salesforce.Record{{extField: "A", "LastName": "a"}, {extField: "B", "LastName": "b"}}
	fields := []string{extField, "LastName"}

	replaceBody(e, "/successfulResults/", "\"sf__Id\",\"sf__Created\",External_Contact_ID__c,LastName\n\"003\",\"true\",\"A\n")
	if _, err := e.c.RunIngest(context.Background(), upsertSpec, fields, recs, 0, fastPoll); err == nil || !strings.Contains(err.Error(), "do not parse") {
		t.Fatalf("unparsable results: %v", err)
	}
	replaceBody(e, "/successfulResults/", "External_Contact_ID__c,LastName\nA,a\n")
	if _, err := e.c.RunIngest(context.Background(), upsertSpec, fields, recs, 0, fastPoll); err == nil || !strings.Contains(err.Error(), "sf__Id") {
		t.Fatalf("results without sf__ columns: %v", err)
	}
	// A result row for a row never uploaded: counted, and the uploaded rows
	// it displaced are not taken as applied.
	replaceBody(e, "/successfulResults/", "\"sf__Id\",\"sf__Created\",External_Contact_ID__c,LastName\n\"003000000000001AAA\",\"true\",Z,z\n")
	run, err := e.c.RunIngest(context.Background(), upsertSpec, fields, recs, 0, fastPoll)
	if err != nil {
		t.Fatal(err)
	}
	if run.Unmatched != 1 || !run.Outcomes[0].Unprocessed || !run.Outcomes[1].Unprocessed {
		t.Fatalf("unmatched %d, outcomes %+v", run.Unmatched, run.Outcomes)
	}
}

func TestBulkQueryIterator(t *testing.T) {
	e := newEnv(t, sfsim.Config{}, nil)
	for i := range 45 {
		if _, err := e.srv.Insert(contact, map[string]any{"LastName": fmt.Sprintf("L%02d", i), extField: fmt.Sprintf("E%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	before := e.c.APICalls()
	it := e.c.BulkQuery(context.Background(), "SELECT External_Contact_ID__c, Email FROM Contact ORDER BY External_Contact_ID__c",
		salesforce.BulkQueryOptions{BulkOptions: fastPoll, PageSize: 20})
	var got []string
	for it.Next() {
		r := it.Record()
		if r["Email"] != nil {
			t.Fatalf("null Email read as %v", r["Email"])
		}
		got = append(got, r[extField].(string))
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 45 || got[0] != "E00" || got[44] != "E44" {
		t.Fatalf("rows %v", got)
	}
	// create + >= 1 status read + 3 pages
	if calls := e.c.APICalls() - before; calls < 5 || calls > 10 {
		t.Fatalf("%d calls", calls)
	}
	bad := e.c.BulkQuery(context.Background(), "SELECT Nope FROM Contact", salesforce.BulkQueryOptions{BulkOptions: fastPoll})
	var ae *salesforce.APIError
	if bad.Next() || !errors.As(bad.Err(), &ae) || ae.ErrorCode != "INVALID_FIELD" {
		t.Fatalf("bad query: %v", bad.Err())
	}
}

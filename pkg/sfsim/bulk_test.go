package sfsim_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

// gate holds Bulk processing: each paced batch (Config.Sleep) reports on
// entered and waits for release, so a test sees InProgress without timing.
type gate struct {
	entered chan time.Duration
	release chan struct{}
}

func newGate() *gate {
	return &gate{entered: make(chan time.Duration, 100), release: make(chan struct{})}
}

func (g *gate) sleep(ctx context.Context, d time.Duration) {
	g.entered <- d
	select {
	case <-g.release:
	case <-ctx.Done():
	}
}

func (g *gate) wait(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-g.entered:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no Bulk batch started within 10s")
	}
	return 0
}

const ingest = v60 + "/jobs/ingest"

// createJob creates an ingest job and returns its info.
func (o *org) createJob(body map[string]any) map[string]any {
	o.t.Helper()
	r := o.do("POST", ingest, body)
	if r.status != 200 {
		o.t.Fatalf("create job: %d %s", r.status, r.body)
	}
	return r.obj(o.t)
}

func (o *org) upsertJob() string {
	o.t.Helper()
	j := o.createJob(map[string]any{"object": "Contact", "operation": "upsert", "externalIdFieldName": extField,
		"contentType": "CSV", "lineEnding": "LF"})
	return str(j["id"])
}

func (o *org) upload(id, data string) reply {
	o.t.Helper()
	return o.do("PUT", ingest+"/"+id+"/batches", data, "Content-Type", "text/csv")
}

func (o *org) setState(kind, id, state string) reply {
	o.t.Helper()
	return o.do("PATCH", v60+"/jobs/"+kind+"/"+id, map[string]any{"state": state})
}

// runJob uploads data to a new upsert job, closes it and waits for it.
func (o *org) runJob(data string) (string, map[string]any) {
	o.t.Helper()
	id := o.upsertJob()
	if r := o.upload(id, data); r.status != 201 {
		o.t.Fatalf("upload: %d %s", r.status, r.body)
	}
	if r := o.setState("ingest", id, "UploadComplete"); r.status != 200 {
		o.t.Fatalf("close: %d %s", r.status, r.body)
	}
	return id, o.waitJob("ingest", id)
}

// waitJob polls a job until it is in a final state (deadline 30s).
func (o *org) waitJob(kind, id string) map[string]any {
	o.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := o.do("GET", v60+"/jobs/"+kind+"/"+id, nil)
		if r.status != 200 {
			o.t.Fatalf("job info: %d %s", r.status, r.body)
		}
		info := r.obj(o.t)
		switch info["state"] {
		case "JobComplete", "Failed", "Aborted":
			return info
		}
		if time.Now().After(deadline) {
			o.t.Fatalf("job %s still %v after 30s", id, info["state"])
		}
		time.Sleep(2 * time.Millisecond) // polling interval, as a client polls
	}
}

// results fetches one result file and parses it.
func (o *org) resultRows(id, file string) [][]string {
	o.t.Helper()
	r := o.do("GET", ingest+"/"+id+"/"+file, nil)
	if r.status != 200 {
		o.t.Fatalf("%s: %d %s", file, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		o.t.Fatalf("%s: Content-Type %q", file, ct)
	}
	if len(r.body) == 0 {
		return nil
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil {
		o.t.Fatalf("%s does not parse: %v\n%s", file, err, r.body)
	}
	return rows
}

func num(v any) int { f, _ := v.(float64); return int(f) }

func TestBulkIngestStateMachine(t *testing.T) {
	g := newGate()
	o := start(t, sfsim.Config{BulkRowsPerSecond: 1000, Sleep: g.sleep})
	j := o.createJob(map[string]any{"object": "Contact", "operation": "upsert", "externalIdFieldName": extField,
		"contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA"})
	id := str(j["id"])
	if !strings.HasPrefix(id, "750") || len(id) != 18 {
		t.Fatalf("job id %q: want an 18-char 750 id", id)
	}
	for k, want := range map[string]any{"state": "Open", "operation": "upsert", "object": "Contact", "externalIdFieldName": extField,
		"contentType": "CSV", "jobType": "V2Ingest", "concurrencyMode": "Parallel", "lineEnding": "LF", "columnDelimiter": "COMMA",
		"apiVersion": 60.0, "contentUrl": "services/data/v60.0/jobs/ingest/" + id + "/batches"} {
		if j[k] != want {
			t.Errorf("create: %s = %v, want %v", k, j[k], want)
		}
	}
	// Nothing is processed before UploadComplete.
	r := o.do("PUT", v60+"/"+str(j["contentUrl"])[len("services/data/v60.0/"):], "LastName,External_Contact_ID__c\nA,X1\nB,X2\n", "Content-Type", "text/csv")
	if r.status != 201 || len(r.body) != 0 {
		t.Fatalf("upload: %d %q, want 201 and no body", r.status, r.body)
	}
	if info := o.do("GET", ingest+"/"+id, nil).obj(t); info["state"] != "Open" || num(info["numberRecordsProcessed"]) != 0 {
		t.Fatalf("after upload: %v", info)
	}
	if n := len(o.srv.Records("Contact")); n != 0 {
		t.Fatalf("%d contacts before UploadComplete", n)
	}
	if r := o.do("GET", ingest+"/"+id+"/successfulResults", nil); r.status != 409 {
		t.Fatalf("results of an open job: %d %s, want 409", r.status, r.body)
	}
	r = o.setState("ingest", id, "UploadComplete")
	if r.status != 200 || r.obj(t)["state"] != "UploadComplete" {
		t.Fatalf("close: %d %s", r.status, r.body)
	}
	if d := g.wait(t); d != 2*time.Millisecond {
		t.Fatalf("2 rows at 1000 rows/s paced %v, want 2ms", d)
	}
	info := o.do("GET", ingest+"/"+id, nil).obj(t)
	if info["state"] != "InProgress" || num(info["numberRecordsProcessed"]) != 0 {
		t.Fatalf("while the batch runs: %v", info)
	}
	if r := o.upload(id, "LastName\nC\n"); r.status != 409 {
		t.Fatalf("upload to an in-progress job: %d %s, want 409", r.status, r.body)
	}
	close(g.release)
	info = o.waitJob("ingest", id)
	if info["state"] != "JobComplete" || num(info["numberRecordsProcessed"]) != 2 || num(info["numberRecordsFailed"]) != 0 {
		t.Fatalf("final: %v", info)
	}
	for _, k := range []string{"retries", "totalProcessingTime", "apiActiveProcessingTime", "apexProcessingTime"} {
		if _, ok := info[k].(float64); !ok {
			t.Errorf("final info lacks %s: %v", k, info)
		}
	}
	if n := len(o.srv.Records("Contact")); n != 2 {
		t.Fatalf("%d contacts, want 2", n)
	}
	rows := o.resultRows(id, "successfulResults")
	if strings.Join(rows[0], ",") != "sf__Id,sf__Created,LastName,External_Contact_ID__c" || len(rows) != 3 {
		t.Fatalf("successfulResults: %v", rows)
	}
	if rows[1][1] != "true" || rows[1][2] != "A" || rows[1][3] != "X1" || !strings.HasPrefix(rows[1][0], "003") {
		t.Fatalf("successfulResults row: %v", rows[1])
	}
	if f := o.resultRows(id, "failedResults"); len(f) != 1 || strings.Join(f[0], ",") != "sf__Id,sf__Error,LastName,External_Contact_ID__c" {
		t.Fatalf("failedResults: %v", f)
	}
	if u := o.resultRows(id, "unprocessedrecords"); len(u) != 1 || strings.Join(u[0], ",") != "LastName,External_Contact_ID__c" {
		t.Fatalf("unprocessedrecords: %v", u)
	}
	// Final states do not move.
	if r := o.setState("ingest", id, "Aborted"); r.status != 409 {
		t.Fatalf("abort a complete job: %d %s", r.status, r.body)
	}
	if r := o.setState("ingest", id, "UploadComplete"); r.status != 409 {
		t.Fatalf("close a complete job: %d %s", r.status, r.body)
	}
	// The list has it; DELETE removes it.
	list := o.do("GET", ingest, nil).obj(t)
	if recs, _ := list["records"].([]any); len(recs) != 1 || list["done"] != true {
		t.Fatalf("job list: %v", list)
	}
	if r := o.do("DELETE", ingest+"/"+id, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := o.do("GET", ingest+"/"+id, nil); r.status != 404 {
		t.Fatalf("deleted job: %d", r.status)
	}
}

func TestBulkIngestRowsRefusedAsOnREST(t *testing.T) {
	o := start(t, sfsim.Config{})
	idA, _ := o.srv.Insert("Contact", map[string]any{"LastName": "Existing", "Email": "taken@example.com", extField: "A1"})
	if _, err := o.srv.Insert("Contact", map[string]any{"LastName": "Newer", extField: "V1", "Sync_Version__c": 10.0, "Phone": "123"}); err != nil {
		t.Fatal(err)
	}
	data := "External_Contact_ID__c,LastName,Email,Sync_Version__c,Phone\n" +
		"N1,New,new@example.com,1,\n" + // created
		"N2,,,1,\n" + // REQUIRED_FIELD_MISSING
		"N3,Dup,taken@example.com,1,\n" + // duplicate rule
		"D1,One,,1,\n" + // same key twice: both refused
		"d1,Two,,1,\n" +
		"V1,Older,,5,#N/A\n" + // validation rule (version guard)
		"A1,Renamed,,2,\n" + // update; empty Email leaves it
		"N4,Bad,not-an-email,1,\n" +
		`"N5","Quote ""q"", comma",,1,` + "\n"
	id, info := o.runJob(data)
	if info["state"] != "JobComplete" || num(info["numberRecordsProcessed"]) != 9 || num(info["numberRecordsFailed"]) != 6 {
		t.Fatalf("final: %v", info)
	}
	ok := o.resultRows(id, "successfulResults")
	got := map[string][]string{}
	for _, r := range ok[1:] {
		got[r[2]] = r
	}
	if len(ok) != 4 || got["N1"][1] != "true" || got["A1"][1] != "false" || got["A1"][0] != idA || got["N5"][3] != `Quote "q", comma` {
		t.Fatalf("successfulResults: %v", ok)
	}
	failed := o.resultRows(id, "failedResults")
	errs := map[string]string{}
	for _, r := range failed[1:] {
		if len(r) != 7 {
			t.Fatalf("failed row %v: want sf__Id, sf__Error and the 5 uploaded columns", r)
		}
		errs[r[2]] = r[1]
	}
	want := map[string]string{
		"N2": "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName",
		"N3": "DUPLICATES_DETECTED:",
		"D1": "DUPLICATE_VALUE:Duplicate external id specified: D1:External_Contact_ID__c",
		"d1": "DUPLICATE_VALUE:Duplicate external id specified: d1:External_Contact_ID__c",
		"V1": "FIELD_CUSTOM_VALIDATION_EXCEPTION:",
		"N4": "INVALID_EMAIL_ADDRESS:Email: invalid email address: not-an-email:Email",
	}
	for k, w := range want {
		if !strings.HasPrefix(errs[k], w) {
			t.Errorf("row %s: sf__Error %q, want prefix %q", k, errs[k], w)
		}
	}
	if !strings.HasSuffix(errs["V1"], ":Sync_Version__c") || !strings.HasSuffix(errs["N3"], ":--") {
		t.Errorf("fields part: V1 %q, N3 %q", errs["V1"], errs["N3"])
	}
	// The refused rows changed nothing; the update kept the email it was not given.
	for _, r := range o.srv.Records("Contact") {
		switch r[extField] {
		case "A1":
			if r["LastName"] != "Renamed" || r["Email"] != "taken@example.com" {
				t.Errorf("A1 after update: %v", r)
			}
		case "V1":
			if r["LastName"] != "Newer" || r["Phone"] != "123" {
				t.Errorf("V1 rolled back by an older version: %v", r)
			}
		case "N2", "N3", "D1", "d1", "N4":
			t.Errorf("refused row stored: %v", r)
		}
	}
}

func TestBulkIngestNullAndOperations(t *testing.T) {
	o := start(t, sfsim.Config{})
	id1, _ := o.srv.Insert("Contact", map[string]any{"LastName": "One", "Phone": "555", "Email": "one@example.com"})
	id2, _ := o.srv.Insert("Contact", map[string]any{"LastName": "Two"})
	run := func(op, data string) (string, map[string]any) {
		t.Helper()
		j := o.createJob(map[string]any{"object": "Contact", "operation": op})
		id := str(j["id"])
		if r := o.upload(id, data); r.status != 201 {
			t.Fatalf("upload: %d %s", r.status, r.body)
		}
		if r := o.setState("ingest", id, "UploadComplete"); r.status != 200 {
			t.Fatalf("close: %d %s", r.status, r.body)
		}
		return id, o.waitJob("ingest", id)
	}
	// update: #N/A sets null, empty leaves as is.
	_, info := run("update", "Id,Phone,Email\n"+id1+",#N/A,\n003000000000000AAA,1,\n")
	if num(info["numberRecordsFailed"]) != 1 {
		t.Fatalf("update: %v", info)
	}
	for _, r := range o.srv.Records("Contact") {
		if r["Id"] == id1 && (r["Phone"] != nil || r["Email"] != "one@example.com") {
			t.Fatalf("after update: %v", r)
		}
	}
	// insert, with the job's own delimiter and line ending in the results.
	j := o.createJob(map[string]any{"object": "Contact", "operation": "insert", "columnDelimiter": "SEMICOLON", "lineEnding": "CRLF"})
	jid := str(j["id"])
	o.upload(jid, "LastName;Title\r\nSemi;a,b\r\n")
	o.setState("ingest", jid, "UploadComplete")
	if info := o.waitJob("ingest", jid); info["state"] != "JobComplete" || num(info["numberRecordsProcessed"]) != 1 {
		t.Fatalf("semicolon insert: %v", info)
	}
	r := o.do("GET", ingest+"/"+jid+"/successfulResults", nil)
	if !strings.HasPrefix(string(r.body), "\"sf__Id\";\"sf__Created\";LastName;Title\r\n") || !strings.HasSuffix(string(r.body), ";\"true\";Semi;a,b\r\n") {
		t.Fatalf("semicolon results: %q", r.body)
	}
	// delete
	did, info := run("delete", "Id\n"+id2+"\n"+id2+"\n")
	if num(info["numberRecordsFailed"]) != 1 {
		t.Fatalf("delete: %v", info)
	}
	f := o.resultRows(did, "failedResults")
	if len(f) != 2 || !strings.HasPrefix(f[1][1], "ENTITY_IS_DELETED:") {
		t.Fatalf("second delete of one id: %v", f)
	}
	for _, r := range o.srv.Records("Contact") {
		if r["Id"] == id2 {
			t.Fatal("deleted contact still there")
		}
	}
}

func TestBulkIngestFailedJobs(t *testing.T) {
	o := start(t, sfsim.Config{})
	for name, c := range map[string]struct{ data, msg string }{
		"unknown column": {"LastName,Nope__c,External_Contact_ID__c\nA,1,X\n", "InvalidBatch : Field name not found : Nope__c"},
		"no key column":  {"LastName\nA\n", "InvalidBatch : The external ID field External_Contact_ID__c is missing"},
		"CRLF on an LF job": {"LastName,External_Contact_ID__c\r\nA,X\r\n",
			"ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is LF"},
		"bad quoting": {"LastName,External_Contact_ID__c\nA,X\n\"B,Y\n", "ClientInputError : "},
	} {
		id, info := o.runJob(c.data)
		if info["state"] != "Failed" || !strings.HasPrefix(str(info["errorMessage"]), c.msg) {
			t.Errorf("%s: %v", name, info)
		}
		if u := o.do("GET", ingest+"/"+id+"/unprocessedrecords", nil); u.status != 200 || !strings.Contains(string(u.body), "\nA") {
			t.Errorf("%s: unprocessed rows %d %q", name, u.status, u.body)
		}
	}
	if n := len(o.srv.Records("Contact")); n != 0 {
		t.Fatalf("failed jobs wrote %d contacts", n)
	}
	// No upload at all.
	id := o.upsertJob()
	o.setState("ingest", id, "UploadComplete")
	if info := o.waitJob("ingest", id); info["state"] != "Failed" {
		t.Fatalf("job without data: %v", info)
	}
	// Two uploads: refused at close, as recorded from a real org.
	id = o.upsertJob()
	o.upload(id, "LastName,External_Contact_ID__c\nA,X\n")
	o.upload(id, "LastName,External_Contact_ID__c\nB,Y\n")
	o.do("PATCH", ingest+"/"+id, map[string]any{"state": "UploadComplete"}).topError(t, 400, "INVALIDJOB")
}

func TestBulkIngestUploadLimitAndBadRequests(t *testing.T) {
	o := start(t, sfsim.Config{BulkMaxUploadBytes: 64})
	id := o.upsertJob()
	big := "LastName,External_Contact_ID__c\n" + strings.Repeat("A,X\n", 20)
	if r := o.upload(id, big); r.status != 413 {
		t.Fatalf("upload over the limit: %d %s", r.status, r.body)
	}
	if r := o.upload(id, "LastName,External_Contact_ID__c\nA,X\n"); r.status != 201 {
		t.Fatalf("upload under the limit: %d %s", r.status, r.body)
	}
	o.do("POST", ingest, map[string]any{"object": "Contact", "operation": "upsert"}).topError(t, 400, "INVALIDJOB")
	o.do("POST", ingest, map[string]any{"object": "Contact", "operation": "upsert", "externalIdFieldName": "LastName"}).topError(t, 400, "INVALIDJOB")
	o.do("POST", ingest, map[string]any{"object": "Nope", "operation": "insert"}).topError(t, 400, "INVALIDJOB")
	o.do("POST", ingest, map[string]any{"object": "Contact", "operation": "merge"}).topError(t, 400, "INVALIDJOB")
	o.do("POST", ingest, map[string]any{"object": "Contact", "operation": "insert", "columnDelimiter": "DASH"}).topError(t, 400, "INVALIDJOB")
	o.do("GET", ingest+"/750000000000001AAA", nil).topError(t, 404, "NOT_FOUND")
	o.do("PATCH", ingest+"/"+id, map[string]any{"state": "JobComplete"}).topError(t, 400, "INVALIDJOB")
	o.do("POST", ingest+"/"+id, nil).topError(t, 405, "METHOD_NOT_ALLOWED")
}

func TestBulkIngestAbortAndFaults(t *testing.T) {
	g := newGate()
	o := start(t, sfsim.Config{BulkRowsPerSecond: 100000, Sleep: g.sleep})
	var b strings.Builder
	b.WriteString("LastName,External_Contact_ID__c\n")
	for i := range 25000 {
		fmt.Fprintf(&b, "L%d,K%d\n", i, i)
	}
	data := b.String()

	// Aborted while the first batch waits: nothing is written, every row is unprocessed.
	id := o.upsertJob()
	o.upload(id, data)
	o.setState("ingest", id, "UploadComplete")
	g.wait(t)
	if r := o.setState("ingest", id, "Aborted"); r.status != 200 {
		t.Fatalf("abort: %d %s", r.status, r.body)
	}
	g.release <- struct{}{}
	info := o.waitJob("ingest", id)
	if info["state"] != "Aborted" || num(info["numberRecordsProcessed"]) != 0 {
		t.Fatalf("aborted: %v", info)
	}
	if u := o.resultRows(id, "unprocessedrecords"); len(u) != 25001 {
		t.Fatalf("unprocessed after abort: %d rows, want header + 25000", len(u))
	}
	close(g.release)

	// A job that fails at its second internal batch keeps the first batch's results.
	o.srv.SetFaults(sfsim.Faults{BulkFailBatch: 2})
	id, info = o.runJob(data)
	if info["state"] != "Failed" || num(info["numberRecordsProcessed"]) != sfsim.BulkBatchSize || !strings.Contains(str(info["errorMessage"]), "batch 2") {
		t.Fatalf("failed at batch 2: %v", info)
	}
	if u := o.resultRows(id, "unprocessedrecords"); len(u) != 15001 || u[1][1] != "K10000" {
		t.Fatalf("unprocessed: %d rows, first %v", len(u), u[1])
	}
	if s := o.resultRows(id, "successfulResults"); len(s) != 10001 {
		t.Fatalf("successful: %d rows", len(s))
	}

	// Batches retried: counted, then the job completes.
	o.srv.SetFaults(sfsim.Faults{BulkBatchRetries: 2})
	_, info = o.runJob(strings.ReplaceAll(data, ",K", ",R"))
	if info["state"] != "JobComplete" || num(info["retries"]) != 6 || num(info["numberRecordsProcessed"]) != 25000 {
		t.Fatalf("retried batches: %v", info)
	}
	// Retried past the limit: Failed.
	o.srv.SetFaults(sfsim.Faults{BulkBatchRetries: 11})
	_, info = o.runJob("LastName,External_Contact_ID__c\nA,Z1\n")
	if info["state"] != "Failed" || num(info["numberRecordsProcessed"]) != 0 {
		t.Fatalf("retried past the limit: %v", info)
	}
	// Row locks are drawn per row and reported as failed rows.
	o.srv.SetFaults(sfsim.Faults{ErrorRate: 1})
	id, info = o.runJob("LastName,External_Contact_ID__c\nA,Z2\n")
	if f := o.resultRows(id, "failedResults"); num(info["numberRecordsFailed"]) != 1 || !strings.HasPrefix(f[1][1], "UNABLE_TO_LOCK_ROW:") {
		t.Fatalf("lock fault: %v %v", info, f)
	}
	o.srv.SetFaults(sfsim.Faults{})

	lim := o.do("GET", v60+"/limits", nil).obj(t)
	b1 := lim["DailyBulkApiBatches"].(map[string]any)
	// 1 (batch 1 of the failed job) + 9 (3 batches × 3 tries) + 11 + 1
	if num(b1["Max"]) != 15000 || num(b1["Remaining"]) != 15000-22 {
		t.Fatalf("DailyBulkApiBatches: %v", b1)
	}
}

func TestBulkQueryJob(t *testing.T) {
	g := newGate()
	o := start(t, sfsim.Config{BulkRowsPerSecond: 1000000, Sleep: g.sleep})
	for i := range 25 {
		if _, err := o.srv.Insert("Contact", map[string]any{"LastName": fmt.Sprintf("L%02d", i), extField: fmt.Sprintf("Q%02d", i),
			"Title": map[bool]any{true: "has \"quote\", comma", false: nil}[i == 3]}); err != nil {
			t.Fatal(err)
		}
	}
	r := o.do("POST", v60+"/jobs/query", map[string]any{"operation": "query",
		"query": "SELECT External_Contact_ID__c, Title FROM Contact WHERE LastName LIKE 'L%' ORDER BY External_Contact_ID__c"})
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	j := r.obj(t)
	id := str(j["id"])
	if j["state"] != "UploadComplete" || j["operation"] != "query" || j["object"] != "Contact" {
		t.Fatalf("create: %v", j)
	}
	g.wait(t)
	if info := o.do("GET", v60+"/jobs/query/"+id, nil).obj(t); info["state"] != "InProgress" || info["jobType"] != "V2Query" {
		t.Fatalf("running: %v", info)
	}
	o.do("GET", v60+"/jobs/query/"+id+"/results", nil).topError(t, 409, "INVALIDJOBSTATE")
	close(g.release)
	if info := o.waitJob("query", id); info["state"] != "JobComplete" || num(info["numberRecordsProcessed"]) != 25 {
		t.Fatalf("final: %v", info)
	}
	var got []string
	loc, pages := "", 0
	for {
		path := v60 + "/jobs/query/" + id + "/results?maxRecords=10"
		if loc != "" {
			path += "&locator=" + loc
		}
		r := o.do("GET", path, nil)
		if r.status != 200 {
			t.Fatalf("results: %d %s", r.status, r.body)
		}
		pages++
		rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(rows[0], ",") != "External_Contact_ID__c,Title" {
			t.Fatalf("header %v", rows[0])
		}
		if n := r.header.Get("Sforce-NumberOfRecords"); n != fmt.Sprint(len(rows)-1) {
			t.Fatalf("Sforce-NumberOfRecords %s for %d rows", n, len(rows)-1)
		}
		for _, row := range rows[1:] {
			got = append(got, row[0]+"|"+row[1])
		}
		loc = r.header.Get("Sforce-Locator")
		if loc == "null" {
			break
		}
		if loc == "" || pages > 5 {
			t.Fatalf("locator %q after %d pages", loc, pages)
		}
	}
	if pages != 3 || len(got) != 25 || got[0] != "Q00|" || got[3] != `Q03|has "quote", comma` || got[24] != "Q24|" {
		t.Fatalf("%d pages, rows %v", pages, got)
	}
	o.do("GET", v60+"/jobs/query/"+id+"/results?locator=bogus!", nil).topError(t, 400, "INVALIDLOCATOR")
	o.do("POST", v60+"/jobs/query", map[string]any{"operation": "query", "query": "SELECT COUNT() FROM Contact"}).topError(t, 400, "INVALIDJOB")
	o.do("POST", v60+"/jobs/query", map[string]any{"operation": "query", "query": "SELECT Nope FROM Contact"}).topError(t, 400, "INVALID_FIELD")
	list := o.do("GET", v60+"/jobs/query", nil).obj(t)
	if recs, _ := list["records"].([]any); len(recs) != 1 {
		t.Fatalf("query job list: %v", list)
	}
	if lim := o.do("GET", v60+"/limits", nil).obj(t)["DailyBulkV2QueryJobs"].(map[string]any); num(lim["Remaining"]) != num(lim["Max"])-1 {
		t.Fatalf("DailyBulkV2QueryJobs: %v", lim)
	}
	// An ingest job id is not a query job.
	o.do("GET", v60+"/jobs/ingest/"+id, nil).topError(t, 404, "NOT_FOUND")
}

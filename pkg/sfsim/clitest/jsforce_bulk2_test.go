package clitest

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestJsforceBulk2 runs testdata/bulk2.cjs: jsforce's conn.bulk2 upsert,
// insert and delete (loadAndWaitForResults), an aborted job and query jobs
// against the emulator's /jobs/ingest and /jobs/query, and checks both what
// jsforce reports and the rows the jobs left in the store.
func TestJsforceBulk2(t *testing.T) {
	tl := needTools(t, true)
	o := startOrg(t, tl)
	jb1 := o.insert("Contact", map[string]any{"LastName": "Seeded", "Email": "keep@example.com", "External_Contact_ID__c": "JB-1"})
	o.insert("Contact", map[string]any{"LastName": "Holder", "Email": "taken@example.com", "External_Contact_ID__c": "HOLDER"})
	for i := range 1200 {
		o.insert("Contact", map[string]any{"LastName": "Paged", "External_Contact_ID__c": fmt.Sprintf("PG-%04d", i)})
	}
	script, err := filepath.Abs(filepath.Join("testdata", "bulk2.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	r := o.run("", []string{"NODE_PATH=" + tl.nodePath, "SFSIM_URL=" + o.srv.URL(), "SFSIM_TOKEN=" + o.token}, tl.node, script)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	var out struct {
		Upsert struct {
			Successful []struct {
				Ext     string `json:"ext"`
				ID      string `json:"id"`
				Created string `json:"created"`
			} `json:"successful"`
			Failed []struct {
				Ext   string `json:"ext"`
				Error string `json:"error"`
			} `json:"failed"`
			Unprocessed int `json:"unprocessed"`
		} `json:"upsert"`
		Inserted []string   `json:"inserted"`
		Deleted  []string   `json:"deleted"`
		Aborted  string     `json:"aborted"`
		Query    [][]string `json:"query"`
		Paged    int        `json:"paged"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("script output: %v\n%v", err, r)
	}

	// Upsert results as jsforce parsed them: JB-1 updated in place, JB-2
	// and JB-3 created; JB-4 refused by its email, both JB-5 rows by the
	// same key in one job, JB-6 by the duplicate rule.
	succ := map[string]string{}
	for _, s := range out.Upsert.Successful {
		succ[s.Ext] = s.Created
		if rec := o.one("Contact", "External_Contact_ID__c", s.Ext); rec["Id"] != s.ID {
			t.Errorf("successful row %s names %s, the store has %v", s.Ext, s.ID, rec["Id"])
		}
	}
	if len(succ) != 3 || succ["JB-1"] != "false" || succ["JB-2"] != "true" || succ["JB-3"] != "true" {
		t.Errorf("successful results %+v", out.Upsert.Successful)
	}
	var failed []string
	for _, f := range out.Upsert.Failed {
		code, _, _ := strings.Cut(f.Error, ":")
		failed = append(failed, f.Ext+"="+code)
	}
	slices.Sort(failed)
	if want := []string{"JB-4=INVALID_EMAIL_ADDRESS", "JB-5=DUPLICATE_VALUE", "JB-5=DUPLICATE_VALUE", "JB-6=DUPLICATES_DETECTED"}; !slices.Equal(failed, want) {
		t.Errorf("failed results %v, want %v", failed, want)
	}
	if out.Upsert.Unprocessed != 0 {
		t.Errorf("%d unprocessed rows in a completed job", out.Upsert.Unprocessed)
	}

	// The store: the update kept the seeded Id and, for an empty cell, the
	// seeded email; jsforce's CSV kept the quote,
	// the comma and the non-Latin letters; refused rows wrote nothing.
	if rec := o.one("Contact", "External_Contact_ID__c", "JB-1"); rec["Id"] != jb1 || rec["LastName"] != "Updated" || rec["Title"] != "Lead" || rec["Email"] != "keep@example.com" {
		t.Errorf("JB-1 %v", rec)
	}
	if rec := o.one("Contact", "External_Contact_ID__c", "JB-2"); rec["LastName"] != `O"Brien, Jr` || rec["Title"] != "Ünïcode 日本" {
		t.Errorf("JB-2 %v", rec)
	}
	for _, ext := range []string{"JB-4", "JB-5", "JB-6", "JB-9"} {
		if n := len(o.records("Contact", "External_Contact_ID__c", ext)); n != 0 {
			t.Errorf("%s stored %d times", ext, n)
		}
	}
	if n := len(o.records("Contact", "Email", "taken@example.com")); n != 1 {
		t.Errorf("%d contacts with the duplicate rule's email", n)
	}

	// Insert then delete by Id: JB-8 stays, JB-7 is gone.
	if len(out.Inserted) != 2 || !slices.Equal(out.Deleted, out.Inserted[:1]) {
		t.Fatalf("insert %v, delete %v", out.Inserted, out.Deleted)
	}
	if n := len(o.records("Contact", "Id", out.Inserted[0])); n != 0 {
		t.Errorf("deleted contact %s still stored", out.Inserted[0])
	}
	if rec := o.one("Contact", "Id", out.Inserted[1]); rec["External_Contact_ID__c"] != "JB-8" {
		t.Errorf("inserted contact %v", rec)
	}
	if out.Aborted != "Aborted" {
		t.Errorf("aborted job state %q", out.Aborted)
	}

	// Query jobs: the rows the store holds, in order, through jsforce's parser.
	want := [][]string{{"JB-1", "Updated", "Lead"}, {"JB-2", `O"Brien, Jr`, "Ünïcode 日本"}, {"JB-3", "Plain", ""}, {"JB-8", "Inserted", ""}}
	if !slices.EqualFunc(out.Query, want, slices.Equal) {
		t.Errorf("bulk2 query %q, want %q", out.Query, want)
	}
	if out.Paged != 1200 {
		t.Errorf("bulk2 query of 1,200 rows returned %d", out.Paged)
	}
	jobs := o.srv.Stats().Routes
	if jobs["POST /jobs/ingest"] != 4 || jobs["POST /jobs/query"] != 2 {
		t.Errorf("job routes %v", jobs)
	}
}

package clitest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSalesforceCLIBulk runs the sf Bulk API 2.0 commands against the
// emulator's /jobs/ingest and /jobs/query (pkg/sfsim bulk*.go), each
// checked by the records it leaves in the store or the file it writes.
// Sequential: each step works on what the previous one wrote.
func TestSalesforceCLIBulk(t *testing.T) {
	tl := needTools(t, false)
	o := startOrg(t, tl)
	o.login()
	dir := t.TempDir()

	// Insert.
	f := writeFile(t, dir, "insert.csv", "LastName,Email,External_Contact_ID__c\nBulkone,b1@example.com,BULK-1\nBulktwo,b2@example.com,BULK-2\n")
	o.sf("data", "import", "bulk", "--sobject", "Contact", "--file", f, "--wait", "2", "--target-org", "sim")
	one := o.one("Contact", "External_Contact_ID__c", "BULK-1")
	if one["Email"] != "b1@example.com" || len(o.records("Contact", "External_Contact_ID__c", "BULK-2")) != 1 {
		t.Fatalf("after import bulk: %v", o.srv.Records("Contact"))
	}

	// Upsert by external ID: one update, one create, one refused row. sf
	// exits 1 naming the job; its results split the rows.
	f = writeFile(t, dir, "upsert.csv", "LastName,Email,External_Contact_ID__c\nBulkone,b1-new@example.com,BULK-1\nBulkthree,,BULK-3\nBulkbad,not an email,BULK-4\n")
	r := o.run("", nil, o.tl.sf, "data", "upsert", "bulk", "--sobject", "Contact", "--file", f, "--external-id", "External_Contact_ID__c",
		"--wait", "2", "--target-org", "sim", "--json")
	var failed struct {
		Name string `json:"name"`
		Data struct {
			JobID string `json:"jobId"`
			State string `json:"state"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &failed); err != nil || r.code != 1 || failed.Data.State != "JobComplete" || failed.Data.JobID == "" {
		t.Fatalf("upsert bulk with a bad row: want exit 1 and a completed job (%v)\n%v", err, r)
	}
	if rec := o.one("Contact", "External_Contact_ID__c", "BULK-1"); rec["Id"] != one["Id"] || rec["Email"] != "b1-new@example.com" {
		t.Errorf("BULK-1 after upsert: %v", rec)
	}
	o.one("Contact", "External_Contact_ID__c", "BULK-3")
	if n := len(o.records("Contact", "External_Contact_ID__c", "BULK-4")); n != 0 {
		t.Errorf("refused row BULK-4 stored")
	}
	var res struct {
		Processed      int    `json:"processedRecords"`
		Successful     int    `json:"successfulRecords"`
		Failed         int    `json:"failedRecords"`
		FailedFilePath string `json:"failedFilePath"`
	}
	o.sfJSON(&res, "data", "bulk", "results", "--job-id", failed.Data.JobID, "--target-org", "sim")
	if res.Processed != 3 || res.Successful != 2 || res.Failed != 1 {
		t.Errorf("bulk results %+v", res)
	}
	b, err := os.ReadFile(filepath.Join(o.home, res.FailedFilePath))
	if err != nil || !strings.Contains(string(b), "INVALID_EMAIL_ADDRESS") || !strings.Contains(string(b), "BULK-4") {
		t.Errorf("failed records file (%v):\n%s", err, b)
	}

	// Update by Id, then delete by Id.
	f = writeFile(t, dir, "update.csv", "Id,Title\n"+one["Id"].(string)+",Bulk Boss\n")
	o.sf("data", "update", "bulk", "--sobject", "Contact", "--file", f, "--wait", "2", "--target-org", "sim")
	if rec := o.one("Contact", "Id", one["Id"]); rec["Title"] != "Bulk Boss" {
		t.Errorf("after update bulk: %v", rec)
	}
	two := o.one("Contact", "External_Contact_ID__c", "BULK-2")
	f = writeFile(t, dir, "delete.csv", "Id\n"+two["Id"].(string)+"\n")
	o.sf("data", "delete", "bulk", "--sobject", "Contact", "--file", f, "--wait", "2", "--target-org", "sim")
	if n := len(o.records("Contact", "External_Contact_ID__c", "BULK-2")); n != 0 {
		t.Errorf("BULK-2 still stored after delete bulk")
	}

	// Export by a Bulk query job.
	out := filepath.Join(dir, "export.csv")
	o.sf("data", "export", "bulk", "--query", "SELECT External_Contact_ID__c, Title FROM Contact ORDER BY External_Contact_ID__c",
		"--output-file", out, "--wait", "2", "--target-org", "sim")
	b, err = os.ReadFile(out)
	want := "\"External_Contact_ID__c\",\"Title\"\n\"BULK-1\",\"Bulk Boss\"\n\"BULK-3\",\n" // a null is an empty, unquoted field
	if err != nil || strings.ReplaceAll(string(b), "\r\n", "\n") != want {
		t.Errorf("export bulk wrote (%v):\n%q\nwant\n%q", err, b, want)
	}
}

package clitest

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

// TestJsforce runs testdata/jsforce.cjs (records, upsert, collections,
// paged and grouped queries, describe, limits, userinfo) and checks what
// it reports against the emulator's store.
func TestJsforce(t *testing.T) {
	tl := needTools(t, true)
	o := startOrg(t, tl)
	for i := range 2500 {
		o.insert("Contact", map[string]any{"LastName": "Paged", "External_Contact_ID__c": fmt.Sprintf("PAGED-%04d", i)})
	}
	for i, ks := range [][2]string{{"Email_Conflict", "New"}, {"Email_Conflict", "New"}, {"Rekeyed", "Resolved"}} {
		o.insert("Contact_Sync_Exception__c", map[string]any{"Exception_Key__c": fmt.Sprint("js-", i), "Kind__c": ks[0], "Status__c": ks[1]})
	}
	script, err := filepath.Abs(filepath.Join("testdata", "jsforce.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	r := o.run("", []string{"NODE_PATH=" + tl.nodePath, "SFSIM_URL=" + o.srv.URL(), "SFSIM_TOKEN=" + o.token}, tl.node, script)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	var out struct {
		CreatedID      string   `json:"createdId"`
		RetrievedTitle string   `json:"retrievedTitle"`
		Upsert         []bool   `json:"upsert"`
		Collection     []string `json:"collection"`
		Query          struct {
			TotalSize int      `json:"totalSize"`
			Ext       []string `json:"ext"`
			URL       string   `json:"url"`
		} `json:"query"`
		Paged     int      `json:"paged"`
		Grouped   []string `json:"grouped"`
		Sobjects  []string `json:"sobjects"`
		ExtField  []string `json:"extField"`
		DailyMax  int      `json:"dailyMax"`
		Username  string   `json:"username"`
		Destroyed string   `json:"destroyed"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("script output: %v\n%v", err, r)
	}
	if out.RetrievedTitle != "Engineer" || !slices.Equal(out.Upsert, []bool{true, false}) {
		t.Errorf("update/upsert: %+v", out)
	}
	if !slices.Equal(out.Collection, []string{"ok", "INVALID_EMAIL_ADDRESS"}) {
		t.Errorf("collection results %v", out.Collection)
	}
	// JSF-1 (updated), JSF-2 (upserted twice), JSF-3; JSF-4 was refused.
	// The query selects no Id, and the first record still names its URL.
	if out.Query.TotalSize != 3 || !slices.Equal(out.Query.Ext, []string{"JSF-1", "JSF-2", "JSF-3"}) ||
		!strings.HasSuffix(out.Query.URL, "/sobjects/Contact/"+out.CreatedID) {
		t.Errorf("query %+v", out.Query)
	}
	if out.Paged != 2500 {
		t.Errorf("paged query returned %d records, want 2500", out.Paged)
	}
	if want := []string{"Email_Conflict/New=2", "Rekeyed/Resolved=1"}; !slices.Equal(out.Grouped, want) {
		t.Errorf("grouped %v, want %v", out.Grouped, want)
	}
	if !slices.Contains(out.Sobjects, "Contact") || !slices.Contains(out.Sobjects, "Organization") ||
		!slices.Contains(out.ExtField, "External_Contact_ID__c") || out.DailyMax != sfsim.DefaultDailyLimit || out.Username != sfsim.Username {
		t.Errorf("describe/limits/userinfo: %+v", out)
	}
	// The store after the script: JSF-1 destroyed, JSF-2 updated by the
	// second upsert, JSF-3 created, JSF-4 refused.
	if n := len(o.records("Contact", "Id", out.Destroyed)); n != 0 || out.Destroyed != out.CreatedID {
		t.Errorf("JSF-1 still stored (%d)", n)
	}
	if rec := o.one("Contact", "External_Contact_ID__c", "JSF-2"); rec["Department"] != "Ops" {
		t.Errorf("JSF-2 %v", rec)
	}
	o.one("Contact", "External_Contact_ID__c", "JSF-3")
	if n := len(o.records("Contact", "External_Contact_ID__c", "JSF-4")); n != 0 {
		t.Errorf("refused JSF-4 stored")
	}
}

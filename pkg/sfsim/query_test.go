package sfsim_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

func queryPath(q string) string { return v60 + "/query?q=" + url.QueryEscape(q) }

func TestQueryPaging(t *testing.T) {
	o := start(t, sfsim.Config{})
	const n = 5000
	for i := range n {
		if _, err := o.srv.Insert("Contact", map[string]any{"LastName": fmt.Sprintf("L%05d", i), extField: fmt.Sprintf("Q-%05d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		header string
		pages  int
		first  int
	}{{"", 3, 2000}, {"batchSize=500", 10, 500}, {"batchSize=50", 25, 200}, {"batchSize=9000", 3, 2000}} {
		t.Run("batch "+tt.header, func(t *testing.T) {
			seen := map[string]bool{}
			path := queryPath("SELECT Id, LastName, Email FROM Contact")
			pages := 0
			for {
				r := o.do("GET", path, nil, "Sforce-Query-Options", tt.header)
				if r.status != 200 {
					t.Fatalf("page %d: %d %s", pages, r.status, r.body)
				}
				m := r.obj(t)
				recs := m["records"].([]any)
				if m["totalSize"] != float64(n) {
					t.Fatalf("totalSize %v", m["totalSize"])
				}
				if pages == 0 && len(recs) != tt.first {
					t.Errorf("first page %d records, want %d", len(recs), tt.first)
				}
				pages++
				for _, x := range recs {
					rec := x.(map[string]any)
					a := rec["attributes"].(map[string]any)
					if a["type"] != "Contact" || a["url"] != v60+"/sobjects/Contact/"+str(rec["Id"]) {
						t.Fatalf("attributes %v", a)
					}
					if v, ok := rec["Email"]; !ok || v != nil {
						t.Fatalf("null Email not present as null: %v", rec)
					}
					seen[str(rec["Id"])] = true
				}
				if m["done"] == true {
					if _, ok := m["nextRecordsUrl"]; ok {
						t.Error("nextRecordsUrl on the last page")
					}
					break
				}
				next := str(m["nextRecordsUrl"])
				if !strings.HasPrefix(next, v60+"/query/01g") {
					t.Fatalf("nextRecordsUrl %q", next)
				}
				path = next
			}
			if pages != tt.pages || len(seen) != n {
				t.Errorf("%d pages, %d distinct records; want %d, %d", pages, len(seen), tt.pages, n)
			}
		})
	}
	o.do("GET", v60+"/query/01gBOGUS-2000", nil).topError(t, 400, "INVALID_QUERY_LOCATOR")
}

func TestQuerySemantics(t *testing.T) {
	o := start(t, sfsim.Config{})
	for _, c := range []map[string]any{
		{"LastName": "O'Neil", "Email": "o'neil@example.com", extField: "Q1", "Title": `back\slash`},
		{"LastName": "Smith", "Email": "smith@example.com", extField: "Q2"},
		{"LastName": "Smith", "Email": "other@example.com", extField: "Q3"},
	} {
		if _, err := o.srv.Insert("Contact", c); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		q     string
		total int
	}{
		{`SELECT Id FROM Contact WHERE LastName = 'O\'Neil'`, 1},
		{`SELECT Id FROM Contact WHERE Title = 'back\\slash'`, 1},
		{`SELECT Id FROM Contact WHERE Email IN ('SMITH@example.com', 'o\'neil@example.com')`, 2},
		{`SELECT Id FROM Contact WHERE ` + extField + ` = 'q2'`, 1},
		{`SELECT COUNT() FROM Contact WHERE LastName = 'smith'`, 2},
		{`SELECT Id FROM Contact ORDER BY LastName LIMIT 2 OFFSET 1`, 2},
		{`SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS:1`, 3},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			r := o.do("GET", queryPath(tt.q), nil)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if m := r.obj(t); m["totalSize"] != float64(tt.total) || m["done"] != true {
				t.Errorf("totalSize %v, want %d", m["totalSize"], tt.total)
			}
		})
	}
	r := o.do("GET", queryPath("SELECT LastName, COUNT(Id) FROM Contact GROUP BY LastName HAVING COUNT(Id) > 1"), nil)
	if m := r.obj(t); r.status != 200 || m["totalSize"] != 1.0 || m["records"].([]any)[0].(map[string]any)["attributes"].(map[string]any)["type"] != "AggregateResult" {
		t.Errorf("group by: %s", r.body)
	}
	errs := []struct{ q, code string }{
		{`SELECT FROM WHERE`, "MALFORMED_QUERY"},
		{`SELECT Id FROM Contact WHERE LastName = "x"`, "MALFORMED_QUERY"},
		{`SELECT Id FROM Contact WHERE LastName = 'a\qb'`, "MALFORMED_QUERY"},
		{`SELECT Foo FROM Contact`, "INVALID_FIELD"},
		{`SELECT Id FROM Bogus`, "INVALID_TYPE"},
	}
	for _, tt := range errs {
		o.do("GET", queryPath(tt.q), nil).topError(t, 400, tt.code)
	}
	o.do("GET", v60+"/query", nil).topError(t, 400, "MALFORMED_QUERY")
	// URIs over 16,384 bytes are refused with 414
	long := `SELECT Id FROM Contact WHERE Email IN ('` + strings.Repeat("a", 17000) + `@example.com')`
	if r := o.do("GET", queryPath(long), nil); r.status != 414 {
		t.Errorf("long URI: %d", r.status)
	}
}

// TestQueryGroupBySeveralFields runs the exception report's query
// (pkg/ops ExceptionsSOQL) over HTTP: one AggregateResult per (kind, status),
// the alias as the count's key, and no Id or url in the attributes.
func TestQueryGroupBySeveralFields(t *testing.T) {
	o := start(t, sfsim.Config{})
	for i, ks := range [][2]string{{"Email_Conflict", "New"}, {"Email_Conflict", "New"}, {"Email_Conflict", "Resolved"}, {"Rekeyed", "New"}} {
		if _, err := o.srv.Insert("Contact_Sync_Exception__c", map[string]any{
			"Exception_Key__c": fmt.Sprintf("k%d", i), "Kind__c": ks[0], "Status__c": ks[1]}); err != nil {
			t.Fatal(err)
		}
	}
	r := o.do("GET", queryPath("SELECT Kind__c, Status__c, COUNT(Id) n FROM Contact_Sync_Exception__c GROUP BY Kind__c, Status__c ORDER BY Kind__c, Status__c"), nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	m := r.obj(t)
	var got []string
	for _, x := range m["records"].([]any) {
		rec := x.(map[string]any)
		if a := rec["attributes"].(map[string]any); a["type"] != "AggregateResult" || a["url"] != nil {
			t.Errorf("attributes %v", a)
		}
		got = append(got, fmt.Sprintf("%v/%v=%v", rec["Kind__c"], rec["Status__c"], rec["n"]))
	}
	want := "Email_Conflict/New=2 Email_Conflict/Resolved=1 Rekeyed/New=1"
	if strings.Join(got, " ") != want || m["totalSize"] != 3.0 {
		t.Errorf("got %v (totalSize %v), want %s", got, m["totalSize"], want)
	}

	// COUNT( inside a literal does not make a plain query an aggregate one.
	r = o.do("GET", queryPath("SELECT Id FROM Contact_Sync_Exception__c WHERE Kind__c != 'GROUP BY COUNT(x)' LIMIT 1"), nil)
	rec := r.obj(t)["records"].([]any)[0].(map[string]any)
	if a := rec["attributes"].(map[string]any); a["type"] != "Contact_Sync_Exception__c" || a["url"] == nil {
		t.Errorf("plain query with COUNT( in a literal: attributes %v", a)
	}
}

package soql

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 27, 15, 30, 0, 0, time.UTC)

// testRows is a small Contact table. Ids are 1..n in order.
func testRows() []map[string]any {
	return []map[string]any{
		{"Id": "1", "LastName": "Smith", "Email": "jane@example.com", "Token__c": "AbC", "Score__c": 10.0, "Active__c": true,
			"Birthdate": "2026-11-27", "CreatedDate": "2026-11-27T02:45:40.000+0000", "LeadSource": "Web"},
		{"Id": "2", "LastName": "smith", "Email": "JANE@Example.com", "Token__c": "abc", "Score__c": 2.5, "Active__c": false,
			"Birthdate": "2026-11-26", "CreatedDate": "2026-11-26T23:59:59.000+0000", "LeadSource": "web"},
		{"Id": "3", "LastName": "O'Brien", "Email": "o'brien@example.com", "Score__c": -1.0,
			"Birthdate": "2026-11-20", "CreatedDate": "2026-11-20T00:00:00.000+0000", "LeadSource": "Phone"},
		{"Id": "4", "LastName": `Back\slash`, "Email": `back\slash@example.com`, "Token__c": nil,
			"Birthdate": "2026-11-19", "CreatedDate": "2026-11-19T23:59:59.999+0000"},
		{"Id": "5", "LastName": "100%_sure", "Email": "pct@example.com", "Score__c": 10.0, "Active__c": true,
			"CreatedDate": "2026-11-28T00:00:00.000+0000", "LeadSource": "Web"},
		{"Id": "6", "LastName": "Zed"},
	}
}

func run(t *testing.T, q string) *Result {
	t.Helper()
	pq, err := Parse(q, testSchema)
	if err != nil {
		t.Fatalf("Parse(%q): %v", q, err)
	}
	res, err := pq.Run(testRows(), testNow)
	if err != nil {
		t.Fatalf("Run(%q): %v", q, err)
	}
	return res
}

func ids(res *Result) string {
	var out []string
	for _, r := range res.Rows {
		s, _ := r["Id"].(string)
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

func TestRunWhere(t *testing.T) {
	for _, tc := range []struct{ where, want string }{
		{"", "1,2,3,4,5,6"},
		// Case-insensitive equality on text fields, exact on case-sensitive ones.
		{"Email = 'jane@EXAMPLE.com'", "1,2"},
		{"LastName = 'SMITH'", "1,2"},
		{"Token__c = 'abc'", "2"},
		{"Token__c != 'abc'", "1,3,4,5,6"},
		{"Token__c IN ('ABC', 'AbC')", "1"},
		// Escaped quotes and backslashes in literals.
		{`Email = 'O\'BRIEN@example.com'`, "3"},
		{`Email IN ('o\'brien@example.com', 'back\\slash@example.com', 'nobody')`, "3,4"},
		{`LastName = 'back\\SLASH'`, "4"},
		// IN / NOT IN with nulls.
		{"Email IN ('jane@example.com', 'pct@example.com')", "1,2,5"},
		{"Email NOT IN ('jane@example.com', 'pct@example.com')", "3,4,6"},
		{"Email IN ('pct@example.com', null)", "5,6"},
		{"Email NOT IN ('pct@example.com', null)", "1,2,3,4"},
		{"Token__c NOT IN ('abc')", "1,3,4,5,6"},
		// Null handling.
		{"Email = null", "6"},
		{"Email != null", "1,2,3,4,5"},
		{"Score__c != 10", "2,3,4,6"},
		{"Score__c < 100", "1,2,3,5"},
		{"Active__c = false", "2"},
		{"Active__c != true", "2,3,4,6"},
		// LIKE.
		{"Email LIKE 'JANE%'", "1,2"},
		{"Email LIKE '%@example.com'", "1,2,3,4,5"},
		{"Email LIKE 'o_brien@%'", "3"},
		{"LastName LIKE '100\\%\\_%'", "5"},
		{"LastName LIKE '100%\\_%'", "5"},
		{"LastName LIKE '1_0\\%%'", "5"},
		{"LastName LIKE '%\\%'", ""},
		{"LastName LIKE 's%h'", "1,2"},
		{"LastName LIKE '%'", "1,2,3,4,5,6"},
		{"Email LIKE '%'", "1,2,3,4,5"},
		{"Token__c LIKE 'a%'", "2"},
		{`LastName LIKE 'back\\%'`, "4"},
		// Numbers.
		{"Score__c = 10", "1,5"},
		{"Score__c > 2.5", "1,5"},
		{"Score__c >= 2.5", "1,2,5"},
		{"Score__c <= -1", "3"},
		{"Score__c IN (2.5, -1)", "2,3"},
		// Dates and datetimes; now is 2026-11-27T15:30Z.
		{"Birthdate = 2026-11-27", "1"},
		{"Birthdate < 2026-11-26", "3,4"},
		{"Birthdate = TODAY", "1"},
		{"Birthdate = YESTERDAY", "2"},
		{"Birthdate > YESTERDAY", "1"},
		{"Birthdate >= YESTERDAY", "1,2"},
		{"Birthdate != TODAY", "2,3,4,5,6"},
		{"Birthdate = LAST_N_DAYS:7", "1,2,3"},
		{"Birthdate < LAST_N_DAYS:7", "4"},
		{"CreatedDate = TODAY", "1"},
		{"CreatedDate = YESTERDAY", "2"},
		{"CreatedDate = TOMORROW", "5"},
		{"CreatedDate = LAST_N_DAYS:7", "1,2,3"},
		{"CreatedDate >= LAST_N_DAYS:7", "1,2,3,5"},
		{"CreatedDate <= LAST_N_DAYS:0", "1,2,3,4"},
		{"CreatedDate = NEXT_N_DAYS:1", "5"},
		{"CreatedDate > 2026-11-27T02:45:40Z", "5"},
		{"CreatedDate >= 2026-11-27T02:45:40Z", "1,5"},
		{"CreatedDate = 2026-11-27T03:45:40+01:00", "1"},
		{"CreatedDate = 2026-11-27T02:45:40.000Z", "1"},
		{"CreatedDate > 2026-11-19T23:59:59.998Z AND CreatedDate < 2026-11-20T00:00:00Z", "4"},
		{"CreatedDate < 2026-11-20T00:00:00Z", "4"},
		// Boolean logic.
		{"LastName = 'smith' AND Token__c = 'abc'", "2"},
		{"Email = 'pct@example.com' OR LastName = 'zed' OR Id = '3'", "3,5,6"},
		{"NOT Email = 'pct@example.com'", "1,2,3,4,6"},
		{"NOT (Email = null OR Score__c = 10)", "2,3,4"},
		{"(Score__c = 10 OR Score__c = 2.5) AND (LeadSource = 'WEB')", "1,2,5"},
	} {
		q := "SELECT Id FROM Contact"
		if tc.where != "" {
			q += " WHERE " + tc.where
		}
		res := run(t, q)
		if got := ids(res); got != tc.want {
			t.Errorf("%s: got [%s], want [%s]", tc.where, got, tc.want)
		}
		if res.TotalSize != len(res.Rows) || res.Count {
			t.Errorf("%s: TotalSize %d, %d rows, Count %v", tc.where, res.TotalSize, len(res.Rows), res.Count)
		}
	}
}

// A bare backslash before an ordinary letter and mixed AND/OR are refused
// rather than read some other way.
func TestRunRejectsBadEscapeAndMixedLogic(t *testing.T) {
	for _, q := range []string{
		`SELECT Id FROM Contact WHERE Email = 'back\slash@example.com'`,
		"SELECT Id FROM Contact WHERE Score__c = 10 AND NOT LeadSource = 'web' OR (Id = '3')",
	} {
		if _, err := Parse(q, testSchema); err == nil {
			t.Errorf("Parse(%q) accepted", q)
		}
	}
}

func TestRunProjection(t *testing.T) {
	res := run(t, "SELECT Email, Id, Score__c, Token__c FROM Contact WHERE LastName = 'zed' OR Id = '4'")
	if want := []string{"Email", "Id", "Score__c", "Token__c"}; !slices.Equal(res.Fields, want) {
		t.Fatalf("Fields = %v", res.Fields)
	}
	if len(res.Rows) != 2 {
		t.Fatalf("rows = %v", res.Rows)
	}
	for _, r := range res.Rows {
		if len(r) != 4 {
			t.Errorf("row %v: want exactly the 4 selected keys", r)
		}
		for _, f := range res.Fields {
			if _, ok := r[f]; !ok {
				t.Errorf("row %v lacks %s", r, f)
			}
		}
	}
	if r := res.Rows[0]; r["Email"] != `back\slash@example.com` || r["Id"] != "4" || r["Score__c"] != nil || r["Token__c"] != nil {
		t.Errorf("row 0 = %v", r)
	}
	if r := res.Rows[1]; r["Email"] != nil || r["Id"] != "6" {
		t.Errorf("row 1 = %v", r)
	}
}

func TestRunOrderLimitOffset(t *testing.T) {
	for _, tc := range []struct{ tail, want string }{
		{"ORDER BY Score__c", "4,6,3,2,1,5"},
		{"ORDER BY Score__c ASC NULLS LAST", "3,2,1,5,4,6"},
		{"ORDER BY Score__c DESC", "4,6,1,5,2,3"},
		{"ORDER BY Score__c DESC NULLS LAST, Id DESC", "5,1,2,3,6,4"},
		{"ORDER BY LastName", "5,4,3,1,2,6"}, // case-insensitive: Smith and smith keep input order
		{"ORDER BY LastName DESC, Id DESC", "6,2,1,3,4,5"},
		{"ORDER BY Token__c NULLS LAST", "1,2,3,4,5,6"},
		{"ORDER BY CreatedDate DESC NULLS LAST", "5,1,2,3,4,6"},
		{"ORDER BY Birthdate", "5,6,4,3,2,1"},
		{"ORDER BY Active__c, Id", "3,4,6,2,1,5"},
		{"ORDER BY Id LIMIT 2", "1,2"},
		{"ORDER BY Id DESC LIMIT 2 OFFSET 1", "5,4"},
		{"LIMIT 0", ""},
		{"OFFSET 4", "5,6"},
		{"OFFSET 2000", ""},
		{"LIMIT 100 OFFSET 5", "6"},
	} {
		res := run(t, "SELECT Id FROM Contact "+tc.tail)
		if got := ids(res); got != tc.want {
			t.Errorf("%s: got [%s], want [%s]", tc.tail, got, tc.want)
		}
		if res.TotalSize != len(res.Rows) {
			t.Errorf("%s: TotalSize %d for %d rows", tc.tail, res.TotalSize, len(res.Rows))
		}
	}
}

func TestRunCount(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want int
	}{
		{"SELECT COUNT() FROM Contact", 6},
		{"SELECT count() FROM Contact WHERE Email LIKE 'jane%'", 2},
		{"SELECT COUNT() FROM Contact WHERE Email = 'nobody'", 0},
		{"SELECT COUNT() FROM Contact LIMIT 4", 4},
		{"SELECT COUNT() FROM Contact LIMIT 4 OFFSET 3", 3},
	} {
		res := run(t, tc.q)
		if !res.Count || res.TotalSize != tc.want || len(res.Rows) != 0 || res.Rows == nil || len(res.Fields) != 0 {
			t.Errorf("%s: got %+v, want count %d", tc.q, res, tc.want)
		}
	}
}

func TestRunGroupBy(t *testing.T) {
	res := run(t, "SELECT Email, COUNT(Id) FROM Contact GROUP BY Email HAVING COUNT(Id) > 1")
	if !slices.Equal(res.Fields, []string{"Email", "expr0"}) || res.TotalSize != 1 || len(res.Rows) != 1 {
		t.Fatalf("got %+v", res)
	}
	if r := res.Rows[0]; r["Email"] != "jane@example.com" || r["expr0"] != 2 {
		t.Errorf("row = %v", r)
	}

	res = run(t, "SELECT LeadSource, COUNT(Id) n, COUNT(Score__c) FROM Contact GROUP BY LeadSource ORDER BY COUNT(Id) DESC, LeadSource NULLS LAST")
	if !slices.Equal(res.Fields, []string{"LeadSource", "n", "expr0"}) {
		t.Fatalf("Fields = %v", res.Fields)
	}
	type row struct {
		src     any
		n, nSco int
	}
	var got []row
	for _, r := range res.Rows {
		got = append(got, row{r["LeadSource"], r["n"].(int), r["expr0"].(int)})
	}
	want := []row{{"Web", 3, 3}, {nil, 2, 0}, {"Phone", 1, 1}}
	if !slices.Equal(got, want) {
		t.Errorf("groups = %v, want %v", got, want)
	}

	res = run(t, "SELECT LeadSource FROM Contact GROUP BY LeadSource HAVING LeadSource != null AND COUNT(Id) < 3")
	if len(res.Rows) != 1 || res.Rows[0]["LeadSource"] != "Phone" {
		t.Errorf("having on the grouped field: %v", res.Rows)
	}

	res = run(t, "SELECT COUNT(Id), COUNT(Email) e FROM Contact WHERE Id != '1'")
	if len(res.Rows) != 1 || res.Rows[0]["expr0"] != 5 || res.Rows[0]["e"] != 4 {
		t.Errorf("aggregate without GROUP BY: %v", res.Rows)
	}

	res = run(t, "SELECT Email, COUNT(Id) FROM Contact GROUP BY Email ORDER BY Email LIMIT 2 OFFSET 1")
	if len(res.Rows) != 2 || res.Rows[0]["Email"] != `back\slash@example.com` || res.Rows[1]["Email"] != "jane@example.com" {
		t.Errorf("ordered, paged groups: %v", res.Rows)
	}
}

// TestRunGroupBySeveralFields groups by two fields: one bucket per distinct
// combination (strings compared case-insensitively, null a value of its
// own), aggregates named by alias or expr0, expr1, … as Salesforce names them.
func TestRunGroupBySeveralFields(t *testing.T) {
	res := run(t, "SELECT LeadSource, Active__c, COUNT(Id) n, COUNT(Score__c) FROM Contact GROUP BY LeadSource, Active__c ORDER BY LeadSource NULLS LAST, Active__c")
	if !slices.Equal(res.Fields, []string{"LeadSource", "Active__c", "n", "expr0"}) {
		t.Fatalf("Fields = %v", res.Fields)
	}
	type row struct {
		src, active any
		n, nSco     int
	}
	var got []row
	for _, r := range res.Rows {
		got = append(got, row{r["LeadSource"], r["Active__c"], r["n"].(int), r["expr0"].(int)})
	}
	// Web/true: 1 and 5; web/false: 2 (a bucket shows its first row's
	// spelling; "web" and "Web" compare equal, so the tie goes to Active__c);
	// Phone/null: 3; null/null: 4 and 6.
	want := []row{{"Phone", nil, 1, 1}, {"web", false, 1, 1}, {"Web", true, 2, 2}, {nil, nil, 2, 0}}
	if !slices.Equal(got, want) || res.TotalSize != 4 {
		t.Errorf("groups = %v (total %d), want %v", got, res.TotalSize, want)
	}

	// A grouped field need not be selected; HAVING and ORDER BY may use any
	// of the grouped fields.
	res = run(t, "SELECT LastName, COUNT(Id) FROM Contact GROUP BY LeadSource, LastName HAVING LeadSource = 'web' ORDER BY LastName DESC")
	var names []string
	for _, r := range res.Rows {
		names = append(names, r["LastName"].(string)+"="+strconv.Itoa(r["expr0"].(int)))
	}
	// Smith (1, Web) and smith (2, web) share a bucket: LastName folds too.
	if want := []string{"Smith=2", "100%_sure=1"}; !slices.Equal(names, want) {
		t.Errorf("having/order over the second field: %v, want %v", names, want)
	}

	// The order of the GROUP BY list does not change the buckets.
	a := run(t, "SELECT COUNT(Id) FROM Contact GROUP BY LeadSource, LastName")
	b := run(t, "SELECT COUNT(Id) FROM Contact GROUP BY LastName, LeadSource")
	if a.TotalSize != 5 || b.TotalSize != 5 {
		t.Errorf("buckets: %d and %d, want 5", a.TotalSize, b.TotalSize)
	}
}

// TestRunDoesNotModifyInput checks that Run leaves the rows and their order
// alone, and that a Query can be run again with the same result.
func TestRunDoesNotModifyInput(t *testing.T) {
	q, err := Parse("SELECT Id FROM Contact ORDER BY Id DESC", testSchema)
	if err != nil {
		t.Fatal(err)
	}
	rows := testRows()
	for range 2 {
		res, err := q.Run(rows, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(res); got != "6,5,4,3,2,1" {
			t.Fatalf("got %s", got)
		}
	}
	if rows[0]["Id"] != "1" || len(rows[0]) != 9 {
		t.Errorf("input modified: %v", rows[0])
	}
}

func TestRunOddRowValues(t *testing.T) {
	// Values of unexpected Go types compare like null instead of failing.
	rows := []map[string]any{
		{"Id": "1", "Email": 5.0, "Score__c": "x", "Birthdate": "not a date", "CreatedDate": 7, "Visits__c": 3},
		{"Id": "2", "Email": "a@b.c", "Score__c": float32(1), "Birthdate": time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC),
			"CreatedDate": time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC), "Visits__c": int64(3)},
	}
	for _, tc := range []struct{ where, want string }{
		{"Email = null", "1"},
		{"Score__c = null", "1"},
		{"Score__c = 1", "2"},
		{"Birthdate = TODAY", "2"},
		{"CreatedDate = TODAY", "2"},
		{"Visits__c = 3", "1,2"},
	} {
		q, err := Parse("SELECT Id FROM Contact WHERE "+tc.where, testSchema)
		if err != nil {
			t.Fatal(err)
		}
		res, err := q.Run(rows, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(res); got != tc.want {
			t.Errorf("%s: got [%s], want [%s]", tc.where, got, tc.want)
		}
	}
}

func TestFoldKeyMatchesEqualFold(t *testing.T) {
	words := []string{"", "a", "A", "k", "K", "\u212a", "s", "S", "\u017f", "ß", "ẞ", "Σ", "σ", "ς", "é", "É",
		"\xff", "\xfe", "\ufffd", "İ", "i", "ı", "jane@example.com", "JANE@EXAMPLE.COM", "ǅ", "ǆ", "Ǆ"}
	for _, a := range words {
		for _, b := range words {
			if got, want := foldKey(a) == foldKey(b), strings.EqualFold(a, b); got != want {
				t.Errorf("foldKey(%q)==foldKey(%q) is %v, EqualFold %v", a, b, got, want)
			}
		}
	}
}

func TestLikeMatch(t *testing.T) {
	pat := func(s string) []likeElem {
		_, p, err := decodeString(s, token{kind: tString, text: s}, true)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		pat, s string
		want   bool
	}{
		{"", "", true},
		{"", "a", false},
		{"%", "", true},
		{"_", "", false},
		{"_", "é", true},
		{"a%b%c", "aXbYc", true},
		{"a%b%c", "aXbYcZ", false},
		{"%%%a", "bbba", true},
		{"%ab%ab%", "xabyabz", true},
		{"%ab%ab%", "xabyaz", false},
		{`\%`, "%", true},
		{`\%`, "a", false},
		{`\_`, "_", true},
		{`\_`, "a", false},
		{strings.Repeat("%a", 30) + "b", strings.Repeat("a", 3000), false},
	} {
		if got := likeMatch(pat(tc.pat), tc.s, false); got != tc.want {
			t.Errorf("%q LIKE %q = %v", tc.s, tc.pat, got)
		}
	}
}

func TestColumns(t *testing.T) {
	q, err := Parse("SELECT LeadSource, COUNT(Id), COUNT(Email) e FROM Contact GROUP BY LeadSource", testSchema)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range q.Columns() {
		got = append(got, fmt.Sprintf("%s/%s/%s/%v", c.Name, c.Field, c.Display, c.Aggregate))
	}
	want := []string{"LeadSource/LeadSource/LeadSource/false", "expr0/Id/COUNT(Id)/true", "e/Email/e/true"}
	if !slices.Equal(got, want) || !q.Aggregate() {
		t.Errorf("Columns = %v (aggregate %v), want %v", got, q.Aggregate(), want)
	}
	q, _ = Parse("SELECT Email FROM Contact WHERE Email != 'COUNT(Id)' ORDER BY Email", testSchema)
	res, _ := q.Run(testRows(), testNow)
	if q.Aggregate() || len(res.IDs) != 6 || len(res.Rows) != 6 || res.IDs[0] != "6" {
		t.Errorf("plain query: aggregate %v, IDs %v", q.Aggregate(), res.IDs)
	}
}

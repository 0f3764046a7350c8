package salesforce_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
)

func contactRec(i int) salesforce.Record {
	return salesforce.Record{
		extField:    fmt.Sprintf("EXT-%05d", i),
		"LastName":  fmt.Sprintf("Last%05d", i),
		"FirstName": "First",
		"Email":     fmt.Sprintf("person%05d@example.com", i),
	}
}

func recordsByExt(srv *sfsimtest.Org) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, r := range srv.Records(contact) {
		if k, ok := r[extField].(string); ok {
			out[k] = r
		}
	}
	return out
}

func TestSingleRecordLifecycle(t *testing.T) {
	e := newEnv(t, sfsim.Config{}, nil)
	ctx := context.Background()

	sr, err := e.c.Upsert(ctx, contact, extField, "EXT-1", salesforce.Record{"LastName": "Doe", "Email": "doe@example.com"}, salesforce.WriteOptions{})
	if err != nil || !sr.Success || !sr.Created || sr.ID == "" {
		t.Fatalf("first upsert: %+v, %v", sr, err)
	}
	sr2, err := e.c.Upsert(ctx, contact, extField, "EXT-1", salesforce.Record{"LastName": "Doe2", "Id": "ignored"}, salesforce.WriteOptions{})
	if err != nil || !sr2.Success || sr2.Created || sr2.ID != sr.ID {
		t.Fatalf("second upsert: %+v, %v", sr2, err)
	}
	rec, err := e.c.Get(ctx, contact, sr.ID, "LastName", "Email", extField)
	if err != nil {
		t.Fatal(err)
	}
	if rec["LastName"] != "Doe2" || rec["Email"] != "doe@example.com" || rec[extField] != "EXT-1" {
		t.Errorf("Get = %v", rec)
	}
	if err := e.c.Update(ctx, contact, sr.ID, salesforce.Record{"FirstName": "Jane"}, salesforce.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	rec, err = e.c.Get(ctx, contact, sr.ID)
	if err != nil || rec["FirstName"] != "Jane" {
		t.Fatalf("Get after update = %v, %v", rec, err)
	}

	cr, err := e.c.Create(ctx, contact, salesforce.Record{"LastName": "Other", extField: "EXT-2"}, salesforce.WriteOptions{})
	if err != nil || !cr.Success || !cr.Created || cr.ID == "" {
		t.Fatalf("create: %+v, %v", cr, err)
	}
	if err := e.c.Delete(ctx, contact, cr.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.Get(ctx, contact, cr.ID)
	var ae *salesforce.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound || salesforce.ClassOf(err) != salesforce.ClassPermanent {
		t.Fatalf("Get deleted = %v", err)
	}
	if got := len(e.srv.Records(contact)); got != 1 {
		t.Errorf("%d contacts left, want 1", got)
	}
}

func TestPermanentErrors(t *testing.T) {
	e := newEnv(t, sfsim.Config{}, nil)
	ctx := context.Background()
	tests := []struct {
		name   string
		fields salesforce.Record
		code   string
		field  string
	}{
		{"required", salesforce.Record{"Email": "x@example.com"}, "REQUIRED_FIELD_MISSING", "LastName"},
		{"bad email", salesforce.Record{"LastName": "X", "Email": "not an email"}, "INVALID_EMAIL_ADDRESS", "Email"},
		{"too long", salesforce.Record{"LastName": strings.Repeat("x", 81)}, "STRING_TOO_LONG", "LastName"},
		{"unknown field", salesforce.Record{"LastName": "X", "Bogus__c": 1}, "INVALID_FIELD", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.c.APICalls()
			sr, err := e.c.Upsert(ctx, contact, extField, fmt.Sprintf("P-%d", i), tt.fields, salesforce.WriteOptions{})
			var ae *salesforce.APIError
			if !errors.As(err, &ae) || ae.ErrorCode != tt.code || ae.StatusCode != 400 {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
			if tt.field != "" && (len(ae.Fields) == 0 || ae.Fields[0] != tt.field) {
				t.Errorf("fields = %v, want %s", ae.Fields, tt.field)
			}
			if salesforce.ClassOf(err) != salesforce.ClassPermanent {
				t.Errorf("class = %v", salesforce.ClassOf(err))
			}
			if len(sr.Errors) != 1 || sr.Errors[0].StatusCode != tt.code {
				t.Errorf("SaveResult = %+v", sr)
			}
			if n := e.c.APICalls() - before; n != 1 {
				t.Errorf("permanent error sent %d requests, want 1", n)
			}
		})
	}
	t.Run("malformed query", func(t *testing.T) {
		_, err := e.c.QueryAll(ctx, "SELECT FROM WHERE")
		var ae *salesforce.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 400 || salesforce.ClassOf(err) != salesforce.ClassPermanent {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("slash in value", func(t *testing.T) {
		if _, err := e.c.Upsert(ctx, contact, extField, "a/b", salesforce.Record{"LastName": "X"}, salesforce.WriteOptions{}); err == nil {
			t.Fatal("no error for a value with '/'")
		}
	})
}

func TestDuplicateRule(t *testing.T) {
	for _, key := range []string{"duplicateResut", "duplicateResult"} {
		t.Run(key, func(t *testing.T) {
			e := newEnv(t, sfsim.Config{DuplicateResultKey: key}, nil)
			ctx := context.Background()
			first, err := e.c.Upsert(ctx, contact, extField, "A", salesforce.Record{"LastName": "Doe", "FirstName": "Jane", "Email": "jane@example.com"}, salesforce.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			same := salesforce.Record{"LastName": "Doe", "FirstName": "Jane", "Email": "jane@example.com"}

			// single record: 400 DUPLICATES_DETECTED with the duplicate result
			opts := salesforce.WriteOptions{DuplicateRule: &salesforce.DuplicateRuleHeader{IncludeRecordDetails: true}}
			sr, err := e.c.Upsert(ctx, contact, extField, "B", same, opts)
			var ae *salesforce.APIError
			if !errors.As(err, &ae) || ae.ErrorCode != "DUPLICATES_DETECTED" || salesforce.ClassOf(err) != salesforce.ClassDuplicate {
				t.Fatalf("err = %v", err)
			}
			if ae.DuplicateResult == nil || !ae.DuplicateResult.AllowSave {
				t.Fatalf("duplicate result = %+v", ae.DuplicateResult)
			}
			if ids := ae.DuplicateResult.IDs(); len(ids) != 1 || ids[0] != first.ID {
				t.Errorf("matched IDs = %v, want [%s]", ids, first.ID)
			}
			if sr.Errors[0].DuplicateResult == nil {
				t.Error("SaveResult error lacks the duplicate result")
			}

			// collections: a per-record DUPLICATES_DETECTED
			res, err := e.c.UpsertCollection(ctx, contact, extField, []salesforce.Record{
				{extField: "C", "LastName": "Doe", "Email": "jane@example.com"},
				{extField: "D", "LastName": "Roe", "Email": "roe@example.com"},
			}, salesforce.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Success || len(res[0].Errors) == 0 || res[0].Errors[0].StatusCode != "DUPLICATES_DETECTED" || res[0].Errors[0].Class() != salesforce.ClassDuplicate || !res[1].Success {
				t.Fatalf("collection results = %+v", res)
			}

			// allowSave lets the Allow+Alert rule save it
			opts.DuplicateRule.AllowSave = true
			sr, err = e.c.Upsert(ctx, contact, extField, "B", same, opts)
			if err != nil || !sr.Created {
				t.Fatalf("with allowSave: %+v, %v", sr, err)
			}
		})
	}
}

func TestMultipleMatch(t *testing.T) {
	e := newEnv(t, sfsim.Config{}, nil)
	ctx := context.Background()
	for i := range 2 {
		if _, err := e.srv.Insert(contact, map[string]any{"LastName": fmt.Sprintf("Twin%d", i), extField: "TWIN"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.c.Upsert(ctx, contact, extField, "TWIN", salesforce.Record{"LastName": "X"}, salesforce.WriteOptions{})
	var ae *salesforce.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusMultipleChoices || len(ae.Matches) != 2 {
		t.Fatalf("err = %#v", err)
	}
	if salesforce.ClassOf(err) != salesforce.ClassMultipleMatch {
		t.Errorf("class = %v", salesforce.ClassOf(err))
	}
	for _, m := range ae.Matches {
		if !strings.HasPrefix(m, "/services/data/v60.0/sobjects/Contact/") {
			t.Errorf("match URL %q", m)
		}
	}
	res, err := e.c.UpsertCollection(ctx, contact, extField, []salesforce.Record{{extField: "TWIN", "LastName": "X"}}, salesforce.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Success || res[0].Errors[0].StatusCode != "DUPLICATE_EXTERNAL_ID" || res[0].Errors[0].Class() != salesforce.ClassMultipleMatch {
		t.Fatalf("collection result = %+v", res[0])
	}
	for _, r := range e.srv.Records(contact) {
		if r["LastName"] == "X" {
			t.Fatal("a multiple match wrote a record")
		}
	}
}

func TestUpsertCollectionChunksAndOrder(t *testing.T) {
	e := newEnv(t, sfsim.Config{}, nil)
	ctx := context.Background()
	const n = 450
	recs := make([]salesforce.Record, n)
	for i := range recs {
		recs[i] = contactRec(i)
	}
	recs[7]["Id"] = "003000000000000AAA" // must not be sent
	delete(recs[201], "LastName")        // invalid, in the second chunk
	recs[449]["Email"] = "broken"
	before := e.c.APICalls()
	res, err := e.c.UpsertCollection(ctx, contact, extField, recs, salesforce.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if calls := e.c.APICalls() - before; calls != 3 {
		t.Errorf("%d requests for %d records, want 3", calls, n)
	}
	if len(res) != n {
		t.Fatalf("%d results", len(res))
	}
	if _, ok := recs[7]["attributes"]; ok {
		t.Error("the caller's record was modified")
	}
	stored := recordsByExt(e.srv)
	for i, r := range res {
		switch i {
		case 201:
			if r.Success || r.Errors[0].StatusCode != "REQUIRED_FIELD_MISSING" {
				t.Errorf("result 201 = %+v", r)
			}
		case 449:
			if r.Success || r.Errors[0].StatusCode != "INVALID_EMAIL_ADDRESS" {
				t.Errorf("result 449 = %+v", r)
			}
		default:
			s := stored[fmt.Sprintf("EXT-%05d", i)]
			if !r.Success || !r.Created || s == nil || s["Id"] != r.ID {
				t.Fatalf("result %d = %+v, stored %v", i, r, s)
			}
		}
	}

	// second pass updates, by the same keys, in order
	for i := range recs {
		recs[i] = contactRec(i)
		recs[i]["Title"] = "Pass2"
	}
	res, err = e.c.UpsertCollection(ctx, contact, extField, recs, salesforce.WriteOptions{AllOrNone: false})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		wantCreated := i == 201 || i == 449
		if !r.Success || r.Created != wantCreated {
			t.Fatalf("pass 2 result %d = %+v", i, r)
		}
	}

	// update by Id and create through collections
	upd := make([]salesforce.Record, 0, 250)
	for i := range 250 {
		upd = append(upd, salesforce.Record{"Id": res[i].ID, "Title": "Updated"})
	}
	ur, err := e.c.UpdateCollection(ctx, contact, upd, salesforce.WriteOptions{})
	if err != nil || len(ur) != 250 {
		t.Fatalf("update collection: %d results, %v", len(ur), err)
	}
	for i, r := range ur {
		if !r.Success || r.ID != res[i].ID {
			t.Fatalf("update result %d = %+v", i, r)
		}
	}
	if got := recordsByExt(e.srv)["EXT-00249"]["Title"]; got != "Updated" {
		t.Errorf("Title after UpdateCollection = %v", got)
	}
	if _, err := e.c.UpdateCollection(ctx, contact, []salesforce.Record{{"Title": "x"}}, salesforce.WriteOptions{}); err == nil {
		t.Error("UpdateCollection accepted a record without Id")
	}

	create := []salesforce.Record{{"LastName": "New1"}, {"LastName": "New2", "Email": "bad"}}
	cr, err := e.c.CreateCollection(ctx, contact, create, salesforce.WriteOptions{})
	if err != nil || len(cr) != 2 || !cr[0].Success || cr[1].Success || cr[1].Errors[0].StatusCode != "INVALID_EMAIL_ADDRESS" {
		t.Fatalf("create collection: %+v, %v", cr, err)
	}
}

func TestAllOrNone(t *testing.T) {
	e := newEnv(t, sfsim.Config{}, nil)
	recs := []salesforce.Record{contactRec(1), {extField: "BAD"}, contactRec(3)}
	res, err := e.c.UpsertCollection(context.Background(), contact, extField, recs, salesforce.WriteOptions{AllOrNone: true})
	if err != nil {
		t.Fatal(err)
	}
	if res[1].Errors[0].StatusCode != "REQUIRED_FIELD_MISSING" || res[0].Success || res[2].Success {
		t.Fatalf("results = %+v", res)
	}
	if res[0].Errors[0].StatusCode != "ALL_OR_NONE_OPERATION_ROLLED_BACK" || res[0].Errors[0].Class() != salesforce.ClassTransient {
		t.Errorf("innocent row = %+v", res[0])
	}
	if n := len(e.srv.Records(contact)); n != 0 {
		t.Errorf("%d records written despite allOrNone", n)
	}
}

func TestComposite(t *testing.T) {
	e := newEnv(t, sfsim.Config{}, nil)
	ctx := context.Background()
	before := e.c.APICalls()
	subs := []salesforce.Subrequest{
		{Method: "PATCH", URL: "sobjects/Contact/" + extField + "/CMP-1", ReferenceID: "up", Body: salesforce.Record{"LastName": "Comp"}},
		{Method: "GET", URL: "/services/data/v60.0/sobjects/Contact/@{up.id}?fields=LastName", ReferenceID: "get"},
	}
	out, err := e.c.Composite(ctx, true, subs)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].HTTPStatusCode != 201 || out[0].ReferenceID != "up" || out[1].HTTPStatusCode != 200 {
		t.Fatalf("composite = %+v", out)
	}
	var got salesforce.Record
	if err := json.Unmarshal(out[1].Body, &got); err != nil || got["LastName"] != "Comp" {
		t.Fatalf("GET subresponse = %s (%v)", out[1].Body, err)
	}
	if n := e.c.APICalls() - before; n != 1 {
		t.Errorf("composite sent %d requests", n)
	}
	// a failing subrequest under allOrNone halts the other
	out, err = e.c.Composite(ctx, true, []salesforce.Subrequest{
		{Method: "PATCH", URL: "sobjects/Contact/" + extField + "/CMP-2", ReferenceID: "ok", Body: salesforce.Record{"LastName": "Fine"}},
		{Method: "PATCH", URL: "sobjects/Contact/" + extField + "/CMP-3", ReferenceID: "bad", Body: salesforce.Record{"Email": "x@example.com"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ae *salesforce.APIError
	if !errors.As(out[1].Err(), &ae) || ae.ErrorCode != "REQUIRED_FIELD_MISSING" {
		t.Errorf("failing subresponse: %v", out[1].Err())
	}
	if !errors.As(out[0].Err(), &ae) || ae.ErrorCode != "PROCESSING_HALTED" {
		t.Errorf("halted subresponse: %v", out[0].Err())
	}
	if _, err := e.c.Composite(ctx, false, make([]salesforce.Subrequest, 26)); err == nil {
		t.Error("26 subrequests accepted")
	}
}

func TestQueryPaging(t *testing.T) {
	e := newEnv(t, sfsim.Config{}, nil)
	ctx := context.Background()
	const n = 5000
	for i := range n {
		if _, err := e.srv.Insert(contact, map[string]any{"LastName": fmt.Sprintf("L%05d", i), extField: fmt.Sprintf("Q-%05d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	before := e.c.APICalls()
	it := e.c.Query(ctx, "SELECT Id, LastName FROM Contact")
	if e.c.APICalls() != before {
		t.Fatal("Query sent a request before Next")
	}
	if !it.Next() {
		t.Fatalf("no first record: %v", it.Err())
	}
	if it.TotalSize() != n {
		t.Errorf("TotalSize = %d", it.TotalSize())
	}
	if d := e.c.APICalls() - before; d != 1 {
		t.Errorf("first Next sent %d requests", d)
	}
	seen := map[any]bool{it.Record()["Id"]: true}
	for it.Next() {
		seen[it.Record()["Id"]] = true
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}
	if len(seen) != n {
		t.Errorf("%d distinct records, want %d", len(seen), n)
	}
	if pages := e.c.APICalls() - before; pages < 3 {
		t.Errorf("%d pages for %d records: nextRecordsUrl not followed?", pages, n)
	}
	all, err := e.c.QueryAll(ctx, "SELECT Id FROM Contact WHERE LastName = "+salesforce.Quote("L00042"))
	if err != nil || len(all) != 1 {
		t.Fatalf("QueryAll = %d records, %v", len(all), err)
	}
}

func TestInQueriesAgainstEmulator(t *testing.T) {
	e := newEnv(t, sfsim.Config{}, nil)
	ctx := context.Background()
	var emails []string
	for i := range 1500 {
		email := fmt.Sprintf("o'neil.%04d+x@example.com", i)
		emails = append(emails, email)
		if i%3 == 0 {
			if _, err := e.srv.Insert(contact, map[string]any{"LastName": "N", "Email": email}); err != nil {
				t.Fatal(err)
			}
		}
	}
	stmts := salesforce.InQueries("SELECT Id, Email FROM Contact WHERE", "Email", emails, "", 0)
	if len(stmts) < 2 {
		t.Fatalf("%d statements", len(stmts))
	}
	found := 0
	for _, s := range stmts {
		recs, err := e.c.QueryAll(ctx, s)
		if err != nil {
			t.Fatalf("statement of %d bytes: %v", len(s), err)
		}
		found += len(recs)
	}
	if found != 500 {
		t.Errorf("found %d contacts, want 500", found)
	}
}

func TestLimitsAndUsage(t *testing.T) {
	e := newEnv(t, sfsim.Config{DailyLimit: 5000}, nil)
	ctx := context.Background()
	if e.c.Usage().Seen {
		t.Error("usage seen before any data call")
	}
	lim, err := e.c.Limits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := lim["DailyApiRequests"]
	if d.Max != 5000 || d.Remaining <= 0 || d.Remaining > 5000 {
		t.Errorf("DailyApiRequests = %+v", d)
	}
	if _, err := e.c.QueryAll(ctx, "SELECT Id FROM Contact"); err != nil {
		t.Fatal(err)
	}
	u := e.c.Usage()
	if !u.Seen || u.Max != 5000 || u.Used < 1 {
		t.Errorf("Usage = %+v", u)
	}
	if st := e.srv.Stats(); st.APICalls != e.c.APICalls() {
		t.Errorf("emulator counted %d calls, client %d", st.APICalls, e.c.APICalls())
	}
}

func TestRequestLimitNotRetried(t *testing.T) {
	e := newEnv(t, sfsim.Config{}, nil)
	ctx := context.Background()
	e.srv.SetFaults(sfsim.Faults{DailyLimit: 3})
	var err error
	var calls int64
	for range 10 {
		before := e.c.APICalls()
		_, err = e.c.Upsert(ctx, contact, extField, "LIM", salesforce.Record{"LastName": "L"}, salesforce.WriteOptions{})
		calls = e.c.APICalls() - before
		if err != nil {
			break
		}
	}
	if !errors.Is(err, salesforce.ErrRequestLimit) || salesforce.ClassOf(err) != salesforce.ClassLimit {
		t.Fatalf("err = %v, want a request limit error", err)
	}
	if calls != 1 {
		t.Errorf("limit error after %d requests in one call, want 1 (never looped)", calls)
	}
	var ae *salesforce.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusForbidden {
		t.Errorf("err = %#v", err)
	}
}

func TestSessionExpiryRefreshesOnce(t *testing.T) {
	e := newEnv(t, sfsim.Config{}, nil)
	ctx := context.Background()
	if _, err := e.c.Upsert(ctx, contact, extField, "S1", salesforce.Record{"LastName": "S"}, salesforce.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	tokens := e.c.TokenRequests()
	e.srv.ExpireSessions()
	// many callers hit the dead session at once: one token request serves all
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.c.Upsert(ctx, contact, extField, fmt.Sprintf("S%d", i+2), salesforce.Record{"LastName": "S"}, salesforce.WriteOptions{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := e.c.TokenRequests() - tokens; d != 1 {
		t.Errorf("%d token requests after expiry, want exactly 1", d)
	}
	if len(e.srv.Records(contact)) != 17 {
		t.Errorf("%d records, want 17", len(e.srv.Records(contact)))
	}
	assertNoSecrets(t, e, nil)
}

func TestSessionRefusedTwice(t *testing.T) {
	// Every session dies at once: one refresh, one replay, then the session
	// error is returned rather than looping.
	e := newEnv(t, sfsim.Config{SessionIdleTimeout: time.Nanosecond}, nil)
	tokens, calls := e.c.TokenRequests(), e.c.APICalls()
	_, err := e.c.Get(context.Background(), contact, "003000000000001AAA")
	var ae *salesforce.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.ErrorCode != "INVALID_SESSION_ID" || salesforce.ClassOf(err) != salesforce.ClassSession {
		t.Fatalf("err = %v", err)
	}
	if d := e.c.TokenRequests() - tokens; d != 1 {
		t.Errorf("%d token requests, want 1", d)
	}
	if d := e.c.APICalls() - calls; d != 2 {
		t.Errorf("%d data requests, want 2", d)
	}
	assertNoSecrets(t, e, err)
}

func TestBadCredentials(t *testing.T) {
	srv := startSim(t, sfsim.Config{})
	const wrong = "wrong-secret-4711-do-not-print"
	core, logs := newObserved()
	_, err := salesforce.New(context.Background(), salesforce.Config{
		LoginURL: srv.URL(), ClientID: clientID, ClientSecret: wrong, Logger: core,
	})
	var au *salesforce.AuthError
	if !errors.As(err, &au) || au.StatusCode != 400 || au.Code == "" {
		t.Fatalf("err = %#v", err)
	}
	if salesforce.ClassOf(err) != salesforce.ClassPermanent {
		t.Errorf("class = %v", salesforce.ClassOf(err))
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(fmt.Sprintf("%+v %#v", err, au), wrong) {
		t.Errorf("error shows the secret: %v", err)
	}
	for _, l := range logs.All() {
		if strings.Contains(fmt.Sprint(l.Message, l.ContextMap()), wrong) {
			t.Errorf("log shows the secret: %v", l)
		}
	}
	// unknown client id too
	if _, err := salesforce.New(context.Background(), salesforce.Config{LoginURL: srv.URL(), ClientID: "nobody", ClientSecret: secret}); err == nil {
		t.Error("unknown client id accepted")
	}
}

// assertNoSecrets checks that no bearer token seen on the wire, nor the
// client secret, appears in err or in any captured log line.
func assertNoSecrets(t *testing.T, e *env, err error) {
	t.Helper()
	secrets := append(e.hook.seenTokens(), secret)
	if len(secrets) < 2 {
		t.Fatal("no token observed")
	}
	var texts []string
	if err != nil {
		texts = append(texts, err.Error(), fmt.Sprintf("%+v", err))
	}
	for _, l := range e.logs.All() {
		b, _ := json.Marshal(l.ContextMap())
		texts = append(texts, l.Message+string(b))
	}
	for _, s := range secrets {
		for _, txt := range texts {
			if strings.Contains(txt, s) {
				t.Errorf("secret or token %q… appears in %q", s[:min(6, len(s))], txt)
			}
		}
	}
}

func TestJWT(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})

	srv := startSim(t, sfsim.Config{JWTCertPEM: pubPEM})
	e := connect(t, srv, func(c *salesforce.Config) {
		c.Auth = salesforce.AuthJWT
		c.ClientSecret = ""
		c.Username = jwtUser
		c.PrivateKey = priv
	})
	ctx := context.Background()
	if e.c.InstanceURL() != srv.URL() {
		t.Errorf("InstanceURL = %q, want %q", e.c.InstanceURL(), srv.URL())
	}
	if _, err := e.c.Upsert(ctx, contact, extField, "J1", salesforce.Record{"LastName": "J"}, salesforce.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	srv.ExpireSessions()
	tokens := e.c.TokenRequests()
	if _, err := e.c.QueryAll(ctx, "SELECT Id FROM Contact"); err != nil {
		t.Fatal(err)
	}
	if d := e.c.TokenRequests() - tokens; d != 1 {
		t.Errorf("%d JWT token requests after expiry, want 1", d)
	}

	// a key the emulator does not know
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)})
	_, err = salesforce.New(ctx, salesforce.Config{LoginURL: srv.URL(), Auth: salesforce.AuthJWT, ClientID: clientID, Username: jwtUser, PrivateKey: otherPEM})
	var au *salesforce.AuthError
	if !errors.As(err, &au) || au.StatusCode != 400 {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestTransientFaultsRecover(t *testing.T) {
	for _, fault := range []string{"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "HTML_502"} {
		t.Run(fault, func(t *testing.T) {
			e := newEnv(t, sfsim.Config{}, func(c *salesforce.Config) { c.MaxRetryElapsed = 200 * time.Millisecond })
			ctx := context.Background()
			e.srv.SetFaults(sfsim.Faults{ErrorRate: 1, Errors: []string{fault}})
			// the first failure observed switches the faults off: the retry must succeed
			var failures int
			e.hook.setAfter(func(req *http.Request, res *http.Response, err error) (*http.Response, error) {
				if res != nil && res.StatusCode >= 400 && strings.Contains(req.URL.Path, "/sobjects") {
					failures++
					e.srv.SetFaults(sfsim.Faults{})
				}
				return res, err
			})
			before := e.c.APICalls()
			// a POST create: lock errors and 503/502 prove nothing was written, so it is replayed
			sr, err := e.c.Create(ctx, contact, salesforce.Record{"LastName": "T", extField: "T1"}, salesforce.WriteOptions{})
			if err != nil || !sr.Success {
				t.Fatalf("create: %+v, %v", sr, err)
			}
			if failures != 1 || e.c.APICalls()-before != 2 {
				t.Errorf("failures %d, requests %d; want 1 and 2", failures, e.c.APICalls()-before)
			}
			if n := len(e.srv.Records(contact)); n != 1 {
				t.Errorf("%d records, want 1", n)
			}
			e.hook.setAfter(nil)

			// retries give up after MaxRetryElapsed with a transient error
			e.srv.SetFaults(sfsim.Faults{ErrorRate: 1, Errors: []string{fault}})
			before = e.c.APICalls()
			_, err = e.c.Get(ctx, contact, sr.ID)
			if salesforce.ClassOf(err) != salesforce.ClassTransient {
				t.Fatalf("err = %v, class %v", err, salesforce.ClassOf(err))
			}
			if d := e.c.APICalls() - before; d < 2 {
				t.Errorf("%d requests: not retried", d)
			}
			if fault == "HTML_502" {
				var ae *salesforce.APIError
				if !errors.As(err, &ae) || ae.StatusCode != 502 || len(ae.Message) > 120 || strings.Contains(ae.Message, "<") {
					t.Errorf("gateway error = %#v", err)
				}
			}
		})
	}
}

func TestPerRecordLockErrors(t *testing.T) {
	e := newEnv(t, sfsim.Config{Seed: 7}, nil)
	e.srv.SetFaults(sfsim.Faults{ErrorRate: 0.5, Errors: []string{"UNABLE_TO_LOCK_ROW"}})
	recs := make([]salesforce.Record, 100)
	for i := range recs {
		recs[i] = contactRec(i)
	}
	res, err := e.c.UpsertCollection(context.Background(), contact, extField, recs, salesforce.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	locked := 0
	for _, r := range res {
		if !r.Success {
			if r.Errors[0].StatusCode != "UNABLE_TO_LOCK_ROW" || r.Errors[0].Class() != salesforce.ClassTransient {
				t.Fatalf("result = %+v", r)
			}
			locked++
		}
	}
	if locked == 0 || locked == len(recs) {
		t.Errorf("%d of %d rows locked at rate 0.5", locked, len(recs))
	}
}

// lostResponse makes the first matching exchange fail after the server
// processed it, as a connection reset after the write would.
func lostResponse(e *env, method string) *int {
	n := new(int)
	e.hook.setAfter(func(req *http.Request, res *http.Response, err error) (*http.Response, error) {
		if err == nil && req.Method == method && *n == 0 && !strings.Contains(req.URL.Path, "oauth2") {
			*n++
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return nil, io.ErrUnexpectedEOF
		}
		return res, err
	})
	return n
}

func TestLostResponseReplayRule(t *testing.T) {
	ctx := context.Background()
	t.Run("create not replayed", func(t *testing.T) {
		e := newEnv(t, sfsim.Config{}, nil)
		dropped := lostResponse(e, http.MethodPost)
		before := e.c.APICalls()
		_, err := e.c.Create(ctx, contact, salesforce.Record{"LastName": "Once"}, salesforce.WriteOptions{})
		if err == nil || *dropped != 1 {
			t.Fatalf("err = %v, dropped %d", err, *dropped)
		}
		if salesforce.ClassOf(err) != salesforce.ClassTransient {
			t.Errorf("class = %v", salesforce.ClassOf(err))
		}
		if d := e.c.APICalls() - before; d != 1 {
			t.Errorf("create sent %d times", d)
		}
		if n := len(e.srv.Records(contact)); n != 1 {
			t.Errorf("%d records, want exactly 1", n)
		}
	})
	t.Run("create collection not replayed", func(t *testing.T) {
		e := newEnv(t, sfsim.Config{}, nil)
		lostResponse(e, http.MethodPost)
		recs := make([]salesforce.Record, 250)
		for i := range recs {
			recs[i] = salesforce.Record{"LastName": fmt.Sprintf("C%d", i)}
		}
		res, err := e.c.CreateCollection(ctx, contact, recs, salesforce.WriteOptions{})
		if err == nil || len(res) != 0 {
			t.Fatalf("%d results, err %v", len(res), err)
		}
		if n := len(e.srv.Records(contact)); n != 200 {
			t.Errorf("%d records, want the first chunk only (200)", n)
		}
	})
	t.Run("upsert replayed", func(t *testing.T) {
		e := newEnv(t, sfsim.Config{}, nil)
		dropped := lostResponse(e, http.MethodPatch)
		before := e.c.APICalls()
		res, err := e.c.UpsertCollection(ctx, contact, extField, []salesforce.Record{contactRec(1)}, salesforce.WriteOptions{})
		if err != nil || *dropped != 1 || !res[0].Success {
			t.Fatalf("res %+v, err %v, dropped %d", res, err, *dropped)
		}
		if d := e.c.APICalls() - before; d != 2 {
			t.Errorf("%d requests, want 2", d)
		}
		if n := len(e.srv.Records(contact)); n != 1 {
			t.Errorf("%d records, want 1", n)
		}
	})
}

func TestHeadersAndConcurrency(t *testing.T) {
	e := newEnv(t, sfsim.Config{}, func(c *salesforce.Config) {
		c.MaxConcurrency = 3
		c.CallOptionsClient = "synctest"
	})
	var mu sync.Mutex
	var callOpts, dupHdr []string
	e.hook.setAfter(func(req *http.Request, res *http.Response, err error) (*http.Response, error) {
		mu.Lock()
		callOpts = append(callOpts, req.Header.Get("Sforce-Call-Options"))
		if h := req.Header.Get("Sforce-Duplicate-Rule-Header"); h != "" {
			dupHdr = append(dupHdr, h)
		}
		mu.Unlock()
		return res, err
	})
	e.srv.SetFaults(sfsim.Faults{LatencyMS: 5})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := salesforce.WriteOptions{DuplicateRule: &salesforce.DuplicateRuleHeader{AllowSave: true, IncludeRecordDetails: true}}
			if _, err := e.c.Upsert(ctx, contact, extField, fmt.Sprintf("H%d", i), salesforce.Record{"LastName": "H"}, opts); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if m := e.hook.maxInflight.Load(); m > 3 {
		t.Errorf("%d requests in flight, MaxConcurrency 3", m)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, h := range callOpts {
		if h != "client=synctest" {
			t.Fatalf("Sforce-Call-Options = %q", h)
		}
	}
	if len(dupHdr) != 24 || dupHdr[0] != "allowSave=true; includeRecordDetails=true; runAsCurrentUser=false" {
		t.Errorf("duplicate rule headers = %d, %q", len(dupHdr), dupHdr[:min(1, len(dupHdr))])
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	e := newEnv(t, sfsim.Config{}, func(c *salesforce.Config) { c.RetryBackoff, c.MaxRetryElapsed = time.Hour, 10*time.Hour })
	e.srv.SetFaults(sfsim.Faults{ErrorRate: 1, Errors: []string{"SERVER_UNAVAILABLE"}})
	ctx, cancel := context.WithCancel(context.Background())
	e.hook.setAfter(func(req *http.Request, res *http.Response, err error) (*http.Response, error) {
		cancel() // cancel during the first attempt: the hour-long backoff must not be waited out
		return res, err
	})
	_, err := e.c.Get(ctx, contact, "003000000000001AAA")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	var ae *salesforce.APIError
	if !errors.As(err, &ae) || ae.ErrorCode != "SERVER_UNAVAILABLE" {
		t.Errorf("last error not kept: %v", err)
	}
}

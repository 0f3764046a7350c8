package sfsim_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

// FuzzWriteBodies sends arbitrary bodies to every write resource through
// the handler: whatever arrives, the answer is a Salesforce status, never
// a 500 (a recovered panic) or a hang.
func FuzzWriteBodies(f *testing.F) {
	for _, seed := range []string{
		`{"LastName":"Doe","Email":"a@b.co"}`,
		`{"allOrNone":true,"records":[{"attributes":{"type":"Contact"},"External_Contact_ID__c":"A","LastName":"x"}]}`,
		`{"compositeRequest":[{"method":"PATCH","url":"/services/data/v60.0/sobjects/Contact/External_Contact_ID__c/A","referenceId":"a","body":{"LastName":"x"}},{"method":"GET","url":"/services/data/v60.0/sobjects/Contact/@{a.id}","referenceId":"b"}]}`,
		`{"records":[{"attributes":{"type":"Contact_Sync_Exception__c"},"Last_Seen__c":"2020-01-01","Source_Version__c":"1e400"}]}`,
		`[`, `null`, `{"records":null}`, `{"LastName":{"a":[1,2]}}`, "\x00\xff",
	} {
		f.Add(seed)
	}
	srv, err := sfsim.New(sfsim.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Close() })
	h := srv.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/services/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "client_id": {"contactsync"}, "client_secret": {"contactsync-secret"}}.Encode())))
	tok := rec.Body.String()
	tok = tok[strings.Index(tok, `"access_token":"`)+16:]
	tok = tok[:strings.IndexByte(tok, '"')]
	targets := []struct{ method, path string }{
		{"POST", v60 + "/sobjects/Contact"},
		{"PATCH", v60 + "/sobjects/Contact/" + extField + "/F-1"},
		{"PATCH", collUpsert},
		{"POST", v60 + "/composite/sobjects"},
		{"PATCH", v60 + "/composite/sobjects"},
		{"POST", v60 + "/composite"},
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, tg := range targets {
			req := httptest.NewRequest(tg.method, tg.path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= http.StatusInternalServerError {
				t.Fatalf("%s %s with %q: %d %s", tg.method, tg.path, body, rec.Code, rec.Body)
			}
		}
	})
}

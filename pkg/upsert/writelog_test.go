package upsert_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
)

// loggedWrite is one Contact record written by external ID, as Salesforce
// answered it.
type loggedWrite struct {
	Key     string // external ID, lower-cased (Salesforce matches it so)
	Version int64  // Sync_Version__c sent
	OK      bool
	Code    string // first error's statusCode when !OK
}

// writeLog records every Contact upsert that passes through a proxy in
// front of the emulator, so a test sees an older version written after a
// newer one even when a later write hides it from the end state.
type writeLog struct {
	mu      sync.Mutex
	writes  []loggedWrite
	onWrite func(loggedWrite) // called outside the lock, in response order
}

// regressions lists contacts that were successfully written with a lower
// version after a higher one.
func (l *writeLog) regressions() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	high := map[string]int64{}
	var out []string
	for _, w := range l.writes {
		if !w.OK {
			continue
		}
		if w.Version < high[w.Key] {
			out = append(out, fmt.Sprintf("%s: v%d written after v%d", w.Key, w.Version, high[w.Key]))
		}
		high[w.Key] = max(high[w.Key], w.Version)
	}
	return out
}

func (l *writeLog) refused(code string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, w := range l.writes {
		if !w.OK && w.Code == code {
			n++
		}
	}
	return n
}

// recordedEnv is newEnv with the Salesforce client talking to the emulator
// through a recording proxy (real HTTP both ways).
func recordedEnv(t *testing.T, sfcfg sfsim.Config) (*env, *writeLog) {
	t.Helper()
	e := newEnv(t, sfcfg)
	sf, log := recordingClient(t, e.srv)
	e.sf = sf
	return e, log
}

// recordingClient is a Salesforce client for srv whose calls pass through a
// recording proxy.
func recordingClient(t *testing.T, srv *sfsimtest.Org) (*salesforce.Client, *writeLog) {
	t.Helper()
	log := &writeLog{}
	target := srv.URL()
	var self string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqBody, _ := io.ReadAll(r.Body)
		out, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(reqBody))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if strings.HasSuffix(r.URL.Path, "/oauth2/token") {
			body = bytes.ReplaceAll(body, []byte(target), []byte(self)) // keep the client on the proxy
		}
		if r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/composite/sobjects/Contact/") && resp.StatusCode == http.StatusOK {
			log.add(reqBody, body)
		}
		for k, vs := range resp.Header {
			if k != "Content-Length" {
				w.Header()[k] = vs
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
	}))
	t.Cleanup(proxy.Close)
	self = proxy.URL
	sf := srv.Client(t, func(c *salesforce.Config) { c.LoginURL = proxy.URL })
	return sf, log
}

func (l *writeLog) add(reqBody, respBody []byte) {
	var req struct {
		Records []map[string]any `json:"records"`
	}
	var res []salesforce.SaveResult
	if json.Unmarshal(reqBody, &req) != nil || json.Unmarshal(respBody, &res) != nil || len(res) != len(req.Records) {
		return
	}
	var added []loggedWrite
	l.mu.Lock()
	for i, rec := range req.Records {
		x, _ := rec["External_Contact_ID__c"].(string)
		v, _ := rec["Sync_Version__c"].(float64)
		w := loggedWrite{Key: strings.ToLower(x), Version: int64(v), OK: res[i].Success}
		if !w.OK && len(res[i].Errors) > 0 {
			w.Code = res[i].Errors[0].StatusCode
		}
		l.writes = append(l.writes, w)
		added = append(added, w)
	}
	hook := l.onWrite
	l.mu.Unlock()
	if hook != nil {
		for _, w := range added {
			hook(w)
		}
	}
}

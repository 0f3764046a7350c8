package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sfAPI is the harness's own small REST client for the emulator: OAuth
// client credentials, SOQL with nextRecordsUrl paging, collection creates
// (seeding) and the admin API. It is independent of pkg/salesforce on
// purpose: the checks must not share code with what they check.
type sfAPI struct {
	base, clientID, secret, adminToken string
	hc                                 *http.Client
	token, instance                    string
}

const apiVersion = "v60.0"

func newSFAPI(base, clientID, secret, adminToken string) *sfAPI {
	return &sfAPI{base: base, clientID: clientID, secret: secret, adminToken: adminToken,
		hc: &http.Client{Timeout: time.Minute}}
}

func (c *sfAPI) login(ctx context.Context) error {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.clientID}, "client_secret": {c.secret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/services/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("token: HTTP %d: %s", resp.StatusCode, b)
	}
	var t struct {
		AccessToken string `json:"access_token"`
		InstanceURL string `json:"instance_url"`
	}
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return fmt.Errorf("token: unreadable answer")
	}
	c.token, c.instance = t.AccessToken, strings.TrimRight(t.InstanceURL, "/")
	if c.instance == "" {
		c.instance = c.base
	}
	return nil
}

// do sends one data call, retrying transient answers (injected faults) and
// a lost session.
func (c *sfAPI) do(ctx context.Context, method, path string, body any) ([]byte, int, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, 0, err
		}
	}
	delay := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if c.token == "" {
			if err := c.login(ctx); err != nil {
				return nil, 0, err
			}
		}
		u := path
		if !strings.HasPrefix(u, "http") {
			u = c.instance + path
		}
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(raw))
		if err != nil {
			return nil, 0, err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Sforce-Query-Options", "batchSize=2000")
		resp, err := c.hc.Do(req)
		var b []byte
		status := 0
		if err == nil {
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		switch {
		case err == nil && status == http.StatusUnauthorized:
			c.token = ""
		case err == nil && status < 500 && !bytes.Contains(b, []byte("UNABLE_TO_LOCK_ROW")):
			return b, status, nil
		}
		if attempt >= 20 {
			if err != nil {
				return nil, 0, err
			}
			return b, status, nil
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 3*time.Second)
	}
}

// query runs soql and follows nextRecordsUrl to the end.
func (c *sfAPI) query(ctx context.Context, soql string) ([]map[string]any, error) {
	var out []map[string]any
	path := "/services/data/" + apiVersion + "/query?q=" + url.QueryEscape(soql)
	for pages := 0; path != ""; pages++ {
		b, status, err := c.do(ctx, http.MethodGet, path, nil)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("query %q: HTTP %d: %.300s", soql, status, b)
		}
		var page struct {
			Done           bool             `json:"done"`
			NextRecordsURL string           `json:"nextRecordsUrl"`
			Records        []map[string]any `json:"records"`
		}
		if err := decodeJSON(b, &page); err != nil {
			return nil, fmt.Errorf("query page %d: %w", pages, err)
		}
		out = append(out, page.Records...)
		path = ""
		if !page.Done {
			if page.NextRecordsURL == "" {
				return nil, fmt.Errorf("query page %d: done=false without nextRecordsUrl", pages)
			}
			path = page.NextRecordsURL
		}
	}
	return out, nil
}

// createContacts inserts recs 200 at a time and returns their Ids in order.
func (c *sfAPI) createContacts(ctx context.Context, recs []map[string]any) ([]string, error) {
	var ids []string
	for start := 0; start < len(recs); start += 200 {
		part := recs[start:min(start+200, len(recs))]
		body := map[string]any{"allOrNone": true, "records": withType(part, contactObject)}
		b, status, err := c.do(ctx, http.MethodPost, "/services/data/"+apiVersion+"/composite/sobjects", body)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("create: HTTP %d: %.300s", status, b)
		}
		var res []saveResult
		if err := decodeJSON(b, &res); err != nil {
			return nil, err
		}
		for i, r := range res {
			if !r.Success {
				return nil, fmt.Errorf("create record %d: %s: %.300s", start+i, firstCode(r), b)
			}
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

func firstCode(r saveResult) string {
	if len(r.Errors) > 0 {
		return r.Errors[0].StatusCode
	}
	return "failed"
}

func withType(recs []map[string]any, typ string) []map[string]any {
	out := make([]map[string]any, len(recs))
	for i, r := range recs {
		m := map[string]any{"attributes": map[string]string{"type": typ}}
		for k, v := range r {
			m[k] = v
		}
		out[i] = m
	}
	return out
}

// admin calls the emulator's admin API.
func (c *sfAPI) admin(ctx context.Context, method, path string, body any) ([]byte, error) {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if c.adminToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.adminToken)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("%s %s: HTTP %d: %.300s", method, path, resp.StatusCode, b)
	}
	return b, nil
}

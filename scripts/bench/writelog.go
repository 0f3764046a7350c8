package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// contactUpsertPath ends the path of a Contact upsert by external ID.
const contactUpsertPath = "/composite/sobjects/Contact/External_Contact_ID__c"

// writeRec is one record a Contact upsert wrote: its external ID, the
// version it carried (Sync_Version__c) and when the emulator answered.
type writeRec struct {
	ID      string `json:"id"`
	Version int64  `json:"v"`
	At      int64  `json:"at"` // Unix nanoseconds
}

// recServer serves an emulator's API on its own port through recordWrites.
type recServer struct {
	URL string
	hs  *http.Server
}

func (r *recServer) Close() error { return r.hs.Close() }

// serveRecorded puts sim behind recordWrites on a port of its own, so
// upserters in other processes can be timed without changing them: the
// time a record reached Salesforce is when its upsert was answered, on this
// machine's clock, which the publishing bench process shares.
func serveRecorded(sim *sfsim.Server) (*recServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &recServer{URL: "http://" + ln.Addr().String()}
	r.hs = &http.Server{Handler: recordWrites(sim.Handler(), sim.URL(), r.URL, &writeLog{}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.hs.Serve(ln) }()
	return r, nil
}

type writeLog struct {
	mu   sync.Mutex
	recs []writeRec
}

// recordWrites serves inner (an emulator whose own URL is innerURL) at
// selfURL: token responses name selfURL as the instance, so a client stays
// on this handler; every successful record of a Contact upsert is logged;
// GET /__bench/writes returns the log as JSON.
func recordWrites(inner http.Handler, innerURL, selfURL string, log *writeLog) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/__bench/writes":
			log.mu.Lock()
			b, err := json.Marshal(log.recs)
			log.mu.Unlock()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		case r.URL.Path == "/services/oauth2/token":
			c := capture(inner, w, r)
			c.body = bytes.ReplaceAll(c.body, []byte(innerURL), []byte(selfURL))
			c.flush(w)
		case r.Method == http.MethodPatch && strings.HasSuffix(r.URL.Path, contactUpsertPath):
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			c := capture(inner, w, r)
			at := time.Now().UnixNano()
			var req struct {
				Records []map[string]json.RawMessage `json:"records"`
			}
			var res []struct {
				Success bool `json:"success"`
			}
			if c.code == http.StatusOK && json.Unmarshal(body, &req) == nil && json.Unmarshal(c.body, &res) == nil && len(res) == len(req.Records) {
				log.mu.Lock()
				for i, rec := range req.Records {
					var id string
					var v int64
					if !res[i].Success || json.Unmarshal(rec["External_Contact_ID__c"], &id) != nil ||
						json.Unmarshal(rec[upsert.DefaultVersionField], &v) != nil {
						continue
					}
					log.recs = append(log.recs, writeRec{ID: id, Version: v, At: at})
				}
				log.mu.Unlock()
			}
			c.flush(w)
		default:
			inner.ServeHTTP(w, r)
		}
	})
}

// captured is a response held back to be read (and rewritten) first.
type captured struct {
	header http.Header
	code   int
	body   []byte
}

func capture(h http.Handler, w http.ResponseWriter, r *http.Request) *captured {
	c := &capturingWriter{header: http.Header{}, code: http.StatusOK}
	h.ServeHTTP(c, r)
	return &captured{header: c.header, code: c.code, body: c.buf.Bytes()}
}

func (c *captured) flush(w http.ResponseWriter) {
	for k, v := range c.header {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(c.code)
	_, _ = w.Write(c.body)
}

type capturingWriter struct {
	header http.Header
	code   int
	wrote  bool
	buf    bytes.Buffer
}

func (c *capturingWriter) Header() http.Header { return c.header }
func (c *capturingWriter) WriteHeader(code int) {
	if !c.wrote {
		c.code, c.wrote = code, true
	}
}
func (c *capturingWriter) Write(b []byte) (int, error) {
	c.wrote = true
	return c.buf.Write(b)
}

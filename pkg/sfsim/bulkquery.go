package sfsim

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/sfsim/soql"
)

// hQueryCreate is POST /jobs/query {"operation":"query","query":"SELECT …"}.
func (s *Server) hQueryCreate(c *call) *response {
	var req jobRequest
	if err := decodeBody(c.body, &req); err != nil {
		return s.fail(err)
	}
	switch req.Operation {
	case "query", "queryAll":
	case "":
		return s.fail(errJob("InvalidJob : operation is required (query or queryAll)"))
	default:
		return s.fail(errJob("InvalidJob : operation " + req.Operation + " is not supported (query or queryAll)"))
	}
	if strings.TrimSpace(req.Query) == "" {
		return s.fail(errJob("InvalidJob : query is required"))
	}
	parsed, err := soql.Parse(req.Query, s.model.soqlSchema)
	if err != nil {
		return s.fail(soqlError(err))
	}
	o := s.model.object(parsed.Object())
	if o == nil {
		return s.fail(newErr(http.StatusBadRequest, "INVALID_TYPE", "sObject type '"+parsed.Object()+"' is not supported."))
	}
	up := strings.ToUpper(req.Query)
	if strings.Contains(up, "GROUP BY") || strings.Contains(up, "COUNT(") {
		// Bulk queries do not support aggregate functions or GROUP BY.
		return s.fail(errJob("InvalidJob : Aggregate queries are not supported by Bulk API 2.0 query jobs"))
	}
	j, aerr := s.newJob(c, "query", req)
	if aerr != nil {
		return s.fail(aerr)
	}
	j.operation, j.object, j.soql, j.query = req.Operation, o, req.Query, parsed
	j.state = jobUploadComplete
	s.bulk.add(j)
	s.bulk.mu.Lock()
	s.bulk.queries++
	s.bulk.mu.Unlock()
	info := j.info(false)
	s.bulk.start(func(ctx context.Context) { s.runQuery(ctx, j) })
	return jsonResp(http.StatusOK, info)
}

// runQuery runs a query job: a snapshot of the rows when it starts,
// paced like ingest batches.
func (s *Server) runQuery(ctx context.Context, j *bulkJob) {
	j.mu.Lock()
	if j.state != jobUploadComplete {
		j.mu.Unlock()
		return
	}
	j.setState(jobInProgress)
	j.started = time.Now()
	j.mu.Unlock()
	s.mu.RLock()
	res, err := j.query.Run(s.objs[j.object].rows, time.Now())
	s.mu.RUnlock()
	if err == nil {
		if d := s.bulkPace(len(res.Rows)); d > 0 {
			s.sleep(ctx, d)
		}
		if ctx.Err() != nil {
			return
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.elapsed = time.Since(j.started)
	if j.state == jobAborted {
		return
	}
	if err != nil {
		j.errMsg = soqlError(err).msg
		j.setState(jobFailed)
		return
	}
	j.fields, j.rows, j.procRows = res.Fields, res.Rows, len(res.Rows)
	j.setState(jobComplete)
}

// Locators are base64 of the next row's offset, as recorded locators look;
// "null" marks the last page.
func encodeLocator(n int) string {
	return base64.RawStdEncoding.EncodeToString([]byte(strconv.Itoa(n)))
}

func decodeLocator(s string) (int, bool) {
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(string(b))
	return n, err == nil && n >= 0
}

// hQueryResults is GET /jobs/query/{id}/results?locator=…&maxRecords=….
// Without maxRecords the emulator returns every remaining row (Salesforce
// picks a page size itself; how large is not documented).
func (s *Server) hQueryResults(c *call) *response {
	j, err := s.job(c)
	if err != nil {
		return s.fail(err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != jobComplete {
		return s.fail(errJobState("Job " + j.id + " is " + j.state + ": results are available once it is JobComplete"))
	}
	offset := 0
	if l := c.query.Get("locator"); l != "" && l != "null" {
		n, ok := decodeLocator(l)
		if !ok || n > len(j.rows) {
			return s.fail(newErr(http.StatusBadRequest, "INVALIDLOCATOR", "Invalid locator: "+l))
		}
		offset = n
	}
	limit := len(j.rows) - offset
	if v := c.query.Get("maxRecords"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return s.fail(newErr(http.StatusBadRequest, "INVALIDMAXRECORDS", "maxRecords must be a positive integer, not "+v))
		}
		limit = min(limit, n)
	}
	end := offset + limit
	var b bytes.Buffer
	d, eol := string(j.delim), j.eol()
	for i, f := range j.fields {
		if i > 0 {
			b.WriteString(d)
		}
		b.WriteString(quoteCSV(f))
	}
	b.WriteString(eol)
	for _, row := range j.rows[offset:end] {
		for i, f := range j.fields {
			if i > 0 {
				b.WriteString(d)
			}
			if v := row[f]; v != nil {
				b.WriteString(quoteCSV(valueString(v)))
			}
		}
		b.WriteString(eol)
	}
	loc := "null"
	if end < len(j.rows) {
		loc = encodeLocator(end)
	}
	return &response{status: http.StatusOK, raw: b.Bytes(), ctype: "text/csv",
		header: map[string]string{"Sforce-Locator": loc, "Sforce-NumberOfRecords": strconv.Itoa(limit)}}
}

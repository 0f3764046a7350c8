package sfsim

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// bulkRow is one uploaded row of an internal batch.
type bulkRow struct {
	start, end int
	cells      []string
}

// runIngest processes an ingest job closed by UploadComplete: it owns the
// job from here to its final state (or until the server closes).
func (s *Server) runIngest(ctx context.Context, j *bulkJob) {
	j.mu.Lock()
	if j.state != jobUploadComplete {
		j.mu.Unlock()
		return
	}
	j.setState(jobInProgress)
	j.started = time.Now()
	data := j.data
	j.mu.Unlock()

	end := func(state, msg string, unprocessed int) {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.elapsed = time.Since(j.started)
		if j.state == jobAborted {
			if j.unprocessed < 0 {
				j.unprocessed = unprocessed
			}
			return
		}
		j.errMsg = msg
		if unprocessed >= 0 {
			j.unprocessed = unprocessed
		}
		j.setState(state)
	}
	if len(data) == 0 {
		end(jobFailed, "InvalidBatch : No data was uploaded for this job (PUT the CSV to its contentUrl before UploadComplete)", -1)
		return
	}
	rd := csv.NewReader(bytes.NewReader(data))
	rd.Comma = j.delim
	header, err := rd.Read()
	if err != nil {
		end(jobFailed, "ClientInputError : the header row could not be read: "+csvErr(err), 0)
		return
	}
	hdrEnd := int(rd.InputOffset())
	line := data[:hdrEnd]
	crlf := bytes.HasSuffix(line, []byte("\r\n"))
	if j.lineEnding == "LF" && crlf || j.lineEnding == "CRLF" && !crlf && bytes.HasSuffix(line, []byte("\n")) {
		end(jobFailed, "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is "+j.lineEnding, 0)
		return
	}
	j.mu.Lock()
	j.header = bytes.Clone(trimEOL(line))
	j.mu.Unlock()
	cols, msg := s.bulkColumns(j, header)
	if msg != "" {
		end(jobFailed, msg, hdrEnd)
		return
	}
	rd.FieldsPerRecord = len(header)
	rd.ReuseRecord = true
	for batch := 1; ; batch++ {
		batchStart := int(rd.InputOffset())
		var rows []bulkRow
		var perr error
		for len(rows) < BulkBatchSize {
			from := int(rd.InputOffset())
			rec, err := rd.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				perr = err
				break
			}
			to := int(rd.InputOffset())
			rows = append(rows, bulkRow{start: from, end: from + len(trimEOL(data[from:to])), cells: append([]string(nil), rec...)})
		}
		if perr != nil {
			// The batch holding a malformed row is not attempted.
			end(jobFailed, "ClientInputError : "+csvErr(perr), batchStart)
			return
		}
		if len(rows) == 0 {
			break
		}
		f := s.currentFaults()
		if f.BulkFailBatch == batch {
			end(jobFailed, fmt.Sprintf("InternalServerError : internal batch %d failed (injected fault bulk_fail_batch)", batch), batchStart)
			return
		}
		tries := 1 + f.BulkBatchRetries
		if f.BulkBatchRetries > maxBulkRetries {
			tries = 1 + maxBulkRetries
		}
		if d := s.bulkPace(len(rows)) * time.Duration(tries); d > 0 {
			s.sleep(ctx, d)
		}
		if ctx.Err() != nil {
			return // the server is closing
		}
		j.mu.Lock()
		aborted := j.state == jobAborted
		j.retries += tries - 1
		j.mu.Unlock()
		if aborted {
			end(jobAborted, "", batchStart)
			return
		}
		for range tries {
			s.bulk.countBatch()
		}
		if f.BulkBatchRetries > maxBulkRetries {
			end(jobFailed, fmt.Sprintf("InternalServerError : internal batch %d was retried %d times without completing (injected fault bulk_batch_retries)", batch, maxBulkRetries), batchStart)
			return
		}
		res := s.ingestBatch(j, cols, rows)
		j.mu.Lock()
		j.results = append(j.results, res...)
		j.procRows += len(res)
		for _, r := range res {
			if r.err != "" {
				j.failRows++
			}
		}
		j.mu.Unlock()
	}
	end(jobComplete, "", -1)
}

// bulkPace is how long n rows take at Config.BulkRowsPerSecond.
func (s *Server) bulkPace(n int) time.Duration {
	if s.cfg.BulkRowsPerSecond <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second / time.Duration(s.cfg.BulkRowsPerSecond)
}

func csvErr(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	}
	return err.Error()
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// bulkColumns maps the header to fields (nil = a column the operation
// ignores); a column that names no field fails the job, as on Salesforce.
func (s *Server) bulkColumns(j *bulkJob, header []string) ([]*fieldInfo, string) {
	cols := make([]*fieldInfo, len(header))
	hasID, hasExt := false, false
	seen := map[*fieldInfo]bool{}
	for i, h := range header {
		f := j.object.field(strings.TrimSpace(h))
		if f == nil {
			return nil, "InvalidBatch : Field name not found : " + h
		}
		if seen[f] {
			return nil, "InvalidBatch : Duplicate field name found : " + h
		}
		seen[f] = true
		hasID = hasID || f.Name == "Id"
		hasExt = hasExt || j.extField != nil && f == j.extField
		if (j.operation == "delete" || j.operation == "hardDelete") && f.Name != "Id" {
			continue
		}
		cols[i] = f
	}
	switch {
	case (j.operation == "update" || j.operation == "delete" || j.operation == "hardDelete") && !hasID:
		return nil, "InvalidBatch : Field name not found : Id (an " + j.operation + " job needs an Id column)"
	case j.operation == "upsert" && !hasExt:
		return nil, "InvalidBatch : The external ID field " + j.extField.Name + " is missing from the header"
	}
	return cols, ""
}

// bulkLockRate is the per-row chance of UNABLE_TO_LOCK_ROW: the error
// rate's share for that code, as in collections writes.
func (s *Server) bulkLockRate() float64 {
	f := s.currentFaults()
	if f.ErrorRate <= 0 {
		return 0
	}
	kinds := f.Errors
	if len(kinds) == 0 {
		return f.ErrorRate
	}
	n := 0
	for _, k := range kinds {
		if k == FaultLockRow {
			n++
		}
	}
	return f.ErrorRate * float64(n) / float64(len(kinds))
}

// ingestBatch writes one internal batch as one transaction that is never
// rolled back (Bulk jobs save row by row), through the REST path's create,
// update, upsert and delete.
func (s *Server) ingestBatch(j *bulkJob, cols []*fieldInfo, rows []bulkRow) []rowResult {
	w := &writeOpts{integration: j.integration, version: j.version, now: time.Now(), userID: s.userID}
	lockRate := s.bulkLockRate()
	type prepared struct {
		vals map[string]any
		id   string
		key  string
		err  *apiError
	}
	ps := make([]prepared, len(rows))
	counts := map[string]int{}
	for i, r := range rows {
		p := &ps[i]
		p.vals = make(map[string]any, len(cols))
		for ci, cell := range r.cells {
			f := cols[ci]
			if f == nil {
				continue
			}
			if f.Name == "Id" {
				p.id = strings.TrimSpace(cell)
				continue
			}
			if cell == "" {
				continue // an empty cell leaves the field as it is
			}
			if p.err != nil {
				continue
			}
			if f.ReadOnly {
				p.err = errReadOnly(f.Name)
				continue
			}
			var raw any = cell
			if cell == "#N/A" {
				raw = nil // #N/A sets the field to null
			}
			v, err := convertValue(f, raw)
			if err != nil {
				if err.request {
					err = newErr(http.StatusBadRequest, "INVALID_TYPE_ON_FIELD_IN_RECORD",
						fmt.Sprintf("%s: value not of required type: %s", f.Label, cell), f.Name)
				}
				p.err = err
				continue
			}
			p.vals[f.Name] = v
		}
		if j.extField != nil && j.extField.Name != "Id" {
			if k := indexKey(j.extField, p.vals[j.extField.Name]); k != "" {
				p.key = k
				counts[k]++
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	os := s.objs[j.object]
	tx := &txn{}
	out := make([]rowResult, len(rows))
	for i, p := range ps {
		r := &out[i]
		r.start, r.end = rows[i].start, rows[i].end
		var e *apiError
		switch {
		case p.err != nil:
			e = p.err
		case p.key != "" && counts[p.key] > 1:
			// Same external ID twice in one internal batch: every such row
			// is refused, as in a collections upsert.
			e = newErr(http.StatusBadRequest, "DUPLICATE_VALUE", "Duplicate external id specified: "+valueString(p.vals[j.extField.Name]), j.extField.Name)
		case s.rollLock(lockRate):
			e = s.lockError()
		default:
			r.id, r.created, e = s.ingestRow(os, j, p.vals, p.id, w, tx)
		}
		if e != nil {
			r.err = bulkError(e)
		}
	}
	return out
}

// ingestRow writes one row and returns the record's Id (also for some
// failures: the record it matched), whether it was created, or its error.
func (s *Server) ingestRow(os *objectStore, j *bulkJob, vals map[string]any, id string, w *writeOpts, tx *txn) (string, bool, *apiError) {
	byID := func() (*record, *apiError) {
		k := idKey(id)
		switch {
		case id == "":
			return nil, newErr(http.StatusBadRequest, "MISSING_ARGUMENT", "Id not specified in an "+j.operation+" call")
		case k == "":
			return nil, errMalformedID("", id, "")
		case os.byKey[k] == nil && s.deleted[k] != nil:
			return nil, &apiError{code: "ENTITY_IS_DELETED", msg: "entity is deleted"}
		case os.byKey[k] == nil:
			return nil, &apiError{code: "INVALID_CROSS_REFERENCE_KEY", msg: "invalid cross reference id"}
		}
		return os.byKey[k], nil
	}
	switch j.operation {
	case "insert":
		if id != "" {
			return "", false, newErr(http.StatusBadRequest, "INVALID_FIELD_FOR_INSERT_UPDATE", "Record ID: cannot specify Id in an insert call", "Id")
		}
		r, err := s.create(os, vals, w, tx)
		if err != nil {
			return "", false, err
		}
		return r.id, true, nil
	case "update":
		r, err := byID()
		if err != nil {
			return "", false, err
		}
		uw := *w
		uw.editByID = true
		return r.id, false, s.update(os, r, vals, &uw, tx)
	case "delete", "hardDelete":
		r, err := byID()
		if err != nil {
			return id, false, err
		}
		s.deleteRecord(os, r, tx)
		return r.id, false, nil
	}
	// upsert
	fi := j.extField
	var ext any
	if fi.Name == "Id" {
		if id != "" && idKey(id) == "" {
			return "", false, errMalformedID("", id, "")
		}
		if id != "" {
			ext = id
		}
	} else {
		if id != "" {
			return "", false, newErr(http.StatusBadRequest, "INVALID_FIELD_FOR_INSERT_UPDATE", "Record ID: cannot specify Id in an upsert call", "Id")
		}
		ext = vals[fi.Name]
	}
	u := s.upsert(os, fi, ext, vals, w, tx)
	switch {
	case len(u.matches) > 1:
		return "", false, multipleMatchError(fi, u.matches)
	case u.err != nil:
		rid := ""
		if u.rec != nil && !u.created {
			rid = u.rec.id
		}
		return rid, false, u.err
	}
	return u.rec.id, u.created, nil
}

// bulkError renders an error as Bulk's sf__Error: CODE:message:fields,
// fields comma-separated, "--" when there are none.
func bulkError(e *apiError) string {
	f := "--"
	if len(e.fields) > 0 {
		f = strings.Join(e.fields, ",")
	}
	return e.code + ":" + e.msg + ":" + f
}

// quoteCSV quotes one CSV cell.
func quoteCSV(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func (j *bulkJob) eol() string {
	if j.lineEnding == "CRLF" {
		return "\r\n"
	}
	return "\n"
}

// resultCSV renders one of the three result files: the sf__ columns, then
// the row as uploaded. j.mu must be held.
func (j *bulkJob) resultCSV(kind string) []byte {
	var b bytes.Buffer
	d, eol := string(j.delim), j.eol()
	if kind == "unprocessedrecords" {
		if j.unprocessed < 0 || j.data == nil {
			if j.header != nil {
				b.Write(j.header)
				b.WriteString(eol)
			}
			return b.Bytes()
		}
		if j.header != nil && j.unprocessed > 0 {
			b.Write(j.header)
			b.WriteString(eol)
		}
		rest := j.data[j.unprocessed:]
		b.Write(rest)
		if len(rest) > 0 && !bytes.HasSuffix(rest, []byte("\n")) {
			b.WriteString(eol)
		}
		return b.Bytes()
	}
	ok := kind == "successfulResults"
	second := `"sf__Error"`
	if ok {
		second = `"sf__Created"`
	}
	b.WriteString(`"sf__Id"` + d + second)
	if j.header != nil {
		b.WriteString(d)
		b.Write(j.header)
	}
	b.WriteString(eol)
	for _, r := range j.results {
		if (r.err == "") != ok {
			continue
		}
		b.WriteString(quoteCSV(r.id))
		b.WriteString(d)
		if ok {
			b.WriteString(quoteCSV(strconv.FormatBool(r.created)))
		} else {
			b.WriteString(quoteCSV(r.err))
		}
		b.WriteString(d)
		b.Write(j.data[r.start:r.end])
		b.WriteString(eol)
	}
	return b.Bytes()
}

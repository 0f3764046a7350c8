package salesforce

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// BulkQueryIterator walks the rows of a Bulk API 2.0 query job: created
// and waited for on the first Next, then read page by page
// (Sforce-Locator) as the rows are used up. Values are the CSV text; an
// empty cell (null) is nil.
//
//	it := c.BulkQuery(ctx, "SELECT External_Contact_ID__c FROM Contact", salesforce.BulkQueryOptions{})
//	for it.Next() {
//		rec := it.Record()
//	}
//	if err := it.Err(); err != nil { … }
type BulkQueryIterator struct {
	c       *Client
	ctx     context.Context
	soql    string
	o       BulkQueryOptions
	job     BulkJob
	started bool
	locator string // "" before the first page; "null" after the last
	page    [][]string
	header  []string
	i       int
	rec     Record
	err     error
}

// BulkQueryOptions tune a Bulk query.
type BulkQueryOptions struct {
	BulkOptions
	// PageSize is maxRecords per results request; 0 lets Salesforce choose.
	PageSize int
	// All runs queryAll (deleted and archived rows too).
	All bool
}

// BulkQuery starts a Bulk query job for soql. Nothing is sent before the
// first Next.
func (c *Client) BulkQuery(ctx context.Context, soql string, o BulkQueryOptions) *BulkQueryIterator {
	return &BulkQueryIterator{c: c, ctx: ctx, soql: soql, o: o}
}

// Next advances to the next row; false at the end or on error (see Err).
func (it *BulkQueryIterator) Next() bool {
	for {
		if it.err != nil {
			return false
		}
		if it.i < len(it.page) {
			r := it.page[it.i]
			it.i++
			rec := make(Record, len(it.header))
			for k, h := range it.header {
				if r[k] == "" {
					rec[h] = nil
				} else {
					rec[h] = r[k]
				}
			}
			it.rec = rec
			return true
		}
		it.rec = nil
		if it.locator == "null" {
			return false
		}
		if !it.started {
			it.start()
			continue
		}
		it.fetch()
	}
}

func (it *BulkQueryIterator) start() {
	it.started = true
	op := "query"
	if it.o.All {
		op = "queryAll"
	}
	cl := call{method: http.MethodPost, path: "/jobs/query", replay: refusedOnly,
		body: map[string]string{"operation": op, "query": it.soql, "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA"}}
	resp, err := it.c.do(it.ctx, cl)
	if err != nil {
		it.err = fmt.Errorf("salesforce: create bulk query job: %w", err)
		return
	}
	if err := decode(cl, resp, &it.job); err != nil {
		it.err = err
		return
	}
	it.job, it.err = it.c.WaitBulkJob(it.ctx, "query", it.job.ID, it.o.BulkOptions)
}

func (it *BulkQueryIterator) fetch() {
	q := url.Values{}
	if it.locator != "" {
		q.Set("locator", it.locator)
	}
	if it.o.PageSize > 0 {
		q.Set("maxRecords", strconv.Itoa(it.o.PageSize))
	}
	cl := call{method: http.MethodGet, path: jobPath("query", it.job.ID) + "/results", query: q, replay: idempotent, accept: "text/csv"}
	resp, err := it.c.do(it.ctx, cl)
	if err != nil {
		it.err = fmt.Errorf("salesforce: bulk query job %s results: %w", it.job.ID, err)
		return
	}
	recs, err := readCSV(resp.body, ',')
	if err != nil {
		it.err = fmt.Errorf("salesforce: bulk query job %s results do not parse as CSV: %w", it.job.ID, err)
		return
	}
	loc := resp.header.Get("Sforce-Locator")
	if loc == "" {
		it.err = fmt.Errorf("salesforce: bulk query job %s results: no Sforce-Locator header", it.job.ID)
		return
	}
	if loc == it.locator {
		it.err = fmt.Errorf("salesforce: bulk query job %s results: locator %q did not advance", it.job.ID, loc)
		return
	}
	it.locator = loc
	it.page, it.i = nil, 0
	if len(recs) > 0 {
		it.header = recs[0]
		it.page = recs[1:]
	}
	if n := resp.header.Get("Sforce-NumberOfRecords"); n != "" && n != strconv.Itoa(len(it.page)) {
		it.err = fmt.Errorf("salesforce: bulk query job %s results: Sforce-NumberOfRecords %s but %d rows", it.job.ID, n, len(it.page))
	}
}

// Record is the current row.
func (it *BulkQueryIterator) Record() Record { return it.rec }

// Err is the error that stopped the iteration, if any.
func (it *BulkQueryIterator) Err() error { return it.err }

// Job is the query job (known after the first Next).
func (it *BulkQueryIterator) Job() BulkJob { return it.job }

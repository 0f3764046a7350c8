package salesforce

import (
	"context"
	"net/http"
	"net/url"
)

// QueryIterator walks the records of a SOQL query, fetching the next page
// (nextRecordsUrl) only when the current one is used up.
//
//	it := c.Query(ctx, "SELECT Id, Email FROM Contact")
//	for it.Next() {
//		rec := it.Record()
//	}
//	if err := it.Err(); err != nil { … }
type QueryIterator struct {
	c     *Client
	ctx   context.Context // the caller's, for the lifetime of the iteration
	soql  string
	next  string // nextRecordsUrl; "" once the last page is fetched
	first bool
	page  []Record
	i     int
	rec   Record
	total int
	err   error
}

type queryPage struct {
	TotalSize      int      `json:"totalSize"`
	Done           bool     `json:"done"`
	NextRecordsURL string   `json:"nextRecordsUrl"`
	Records        []Record `json:"records"`
}

// Query starts a SOQL query (GET /query?q=…). Nothing is sent before the
// first Next. Records carry "attributes" as Salesforce returns them.
func (c *Client) Query(ctx context.Context, soql string) *QueryIterator {
	return &QueryIterator{c: c, ctx: ctx, soql: soql, first: true}
}

// Next advances to the next record, fetching a page when needed; false at
// the end or on error (see Err).
func (it *QueryIterator) Next() bool {
	for {
		if it.err != nil {
			return false
		}
		if it.i < len(it.page) {
			it.rec = it.page[it.i]
			it.page[it.i] = nil
			it.i++
			return true
		}
		it.rec = nil
		if !it.first && it.next == "" {
			return false
		}
		it.fetch()
	}
}

func (it *QueryIterator) fetch() {
	cl := call{method: http.MethodGet, replay: idempotent}
	if it.first {
		cl.path, cl.query = "/query", url.Values{"q": {it.soql}}
	} else {
		cl.path = it.next
	}
	resp, err := it.c.do(it.ctx, cl)
	if err != nil {
		it.err = err
		return
	}
	var p queryPage
	if err := decode(cl, resp, &p); err != nil {
		it.err = err
		return
	}
	it.first = false
	it.total = p.TotalSize
	it.page, it.i = p.Records, 0
	it.next = ""
	if !p.Done {
		it.next = p.NextRecordsURL
	}
}

// Record is the current record.
func (it *QueryIterator) Record() Record { return it.rec }

// Err is the error that stopped the iteration, if any.
func (it *QueryIterator) Err() error { return it.err }

// TotalSize is the query's total record count, known after the first Next.
func (it *QueryIterator) TotalSize() int { return it.total }

// QueryAll runs soql and collects every record of every page. (It follows
// nextRecordsUrl; it is not the /queryAll resource, which also returns
// deleted records.)
func (c *Client) QueryAll(ctx context.Context, soql string) ([]Record, error) {
	it := c.Query(ctx, soql)
	var out []Record
	for it.Next() {
		if out == nil {
			out = make([]Record, 0, min(it.TotalSize(), 10000))
		}
		out = append(out, it.Record())
	}
	return out, it.Err()
}

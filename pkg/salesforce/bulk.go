package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Bulk API 2.0 job states.
const (
	JobOpen           = "Open"
	JobUploadComplete = "UploadComplete"
	JobInProgress     = "InProgress"
	JobComplete       = "JobComplete"
	JobFailed         = "Failed"
	JobAborted        = "Aborted"
)

// Defaults of BulkOptions.
const (
	DefaultBulkPollInterval    = time.Second
	DefaultBulkMaxPollInterval = time.Minute
	DefaultBulkWait            = 2 * time.Hour
)

// BulkJob is a Bulk API 2.0 job as Salesforce describes it.
type BulkJob struct {
	ID                     string `json:"id"`
	Operation              string `json:"operation"`
	Object                 string `json:"object"`
	State                  string `json:"state"`
	ExternalIDFieldName    string `json:"externalIdFieldName,omitempty"`
	ContentURL             string `json:"contentUrl,omitempty"`
	LineEnding             string `json:"lineEnding,omitempty"`
	ColumnDelimiter        string `json:"columnDelimiter,omitempty"`
	ErrorMessage           string `json:"errorMessage,omitempty"`
	NumberRecordsProcessed int    `json:"numberRecordsProcessed"`
	NumberRecordsFailed    int    `json:"numberRecordsFailed"`
	Retries                int    `json:"retries"`
	TotalProcessingTime    int64  `json:"totalProcessingTime"`
}

// Done reports whether the job is in a final state.
func (j BulkJob) Done() bool {
	return j.State == JobComplete || j.State == JobFailed || j.State == JobAborted
}

// BulkJobError is a job that ended Failed or Aborted. Rows it processed
// still have results; the rest are unprocessed.
type BulkJobError struct{ Job BulkJob }

func (e *BulkJobError) Error() string {
	s := fmt.Sprintf("salesforce: bulk job %s ended %s after %d of its records", e.Job.ID, e.Job.State, e.Job.NumberRecordsProcessed)
	if e.Job.ErrorMessage != "" {
		s += ": " + e.Job.ErrorMessage
	}
	return s
}

// ErrBulkWait is returned (wrapped, with the job id) when a job is not
// done within BulkOptions.Wait; the job goes on and can be waited for again.
var ErrBulkWait = errors.New("salesforce: bulk job not done in time")

// BulkOptions tune how the client waits for a job.
type BulkOptions struct {
	// PollInterval is the first wait between two job status reads; it
	// doubles (with jitter) up to MaxPollInterval. Defaults 1s and 1 min (a backfill job runs minutes; a finished job is noticed within a minute).
	PollInterval, MaxPollInterval time.Duration
	// Wait bounds the whole wait for one job; default 2h.
	Wait time.Duration
	// Progress, when set, is called with every status read.
	Progress func(BulkJob)
}

func (o BulkOptions) withDefaults() BulkOptions {
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultBulkPollInterval
	}
	if o.MaxPollInterval <= 0 {
		o.MaxPollInterval = DefaultBulkMaxPollInterval
	}
	if o.MaxPollInterval < o.PollInterval {
		o.MaxPollInterval = o.PollInterval
	}
	if o.Wait <= 0 {
		o.Wait = DefaultBulkWait
	}
	return o
}

// IngestSpec says what an ingest job does.
type IngestSpec struct {
	Object          string // e.g. "Contact"
	Operation       string // insert, update, upsert, delete
	ExternalIDField string // upsert only
}

func jobPath(kind, id string) string { return "/jobs/" + kind + "/" + url.PathEscape(id) }

// CreateIngestJob creates an Open ingest job (CSV, LF, comma, as
// BulkEncoder writes).
func (c *Client) CreateIngestJob(ctx context.Context, spec IngestSpec) (BulkJob, error) {
	body := map[string]string{"object": spec.Object, "operation": spec.Operation, "contentType": "CSV",
		"lineEnding": "LF", "columnDelimiter": "COMMA"}
	if spec.ExternalIDField != "" {
		body["externalIdFieldName"] = spec.ExternalIDField
	}
	// A lost answer is not retried: a second job would be an orphan Open job.
	cl := call{method: http.MethodPost, path: "/jobs/ingest", body: body, replay: refusedOnly}
	var j BulkJob
	resp, err := c.do(ctx, cl)
	if err != nil {
		return j, fmt.Errorf("salesforce: create bulk %s job on %s: %w", spec.Operation, spec.Object, err)
	}
	return j, decode(cl, resp, &j)
}

// UploadJobData sends a job's one CSV (Salesforce accepts one upload per
// job). It is not resent after a lost answer, since a second upload makes
// the job unclosable; the error then means "unknown": abort the job.
func (c *Client) UploadJobData(ctx context.Context, id string, data []byte) error {
	cl := call{method: http.MethodPut, path: jobPath("ingest", id) + "/batches", raw: data, replay: refusedOnly, contentType: "text/csv"}
	if _, err := c.do(ctx, cl); err != nil {
		return fmt.Errorf("salesforce: upload %d bytes to bulk job %s: %w", len(data), id, err)
	}
	return nil
}

// CloseJob sets an ingest job UploadComplete: Salesforce starts processing.
func (c *Client) CloseJob(ctx context.Context, id string) (BulkJob, error) {
	return c.setJobState(ctx, "ingest", id, JobUploadComplete)
}

// AbortJob aborts a job ("ingest" or "query").
func (c *Client) AbortJob(ctx context.Context, kind, id string) (BulkJob, error) {
	return c.setJobState(ctx, kind, id, JobAborted)
}

func (c *Client) setJobState(ctx context.Context, kind, id, state string) (BulkJob, error) {
	cl := call{method: http.MethodPatch, path: jobPath(kind, id), body: map[string]string{"state": state}, replay: idempotent}
	var j BulkJob
	resp, err := c.do(ctx, cl)
	if err != nil {
		// A replayed close whose first answer was lost finds the job
		// already past Open: that is success.
		var ae *APIError
		if errors.As(err, &ae) && ae.ErrorCode == CodeInvalidJobState {
			if cur, gerr := c.BulkJobInfo(ctx, kind, id); gerr == nil && (state == JobUploadComplete && cur.State != JobOpen || state == JobAborted && cur.State == JobAborted) {
				return cur, nil
			}
		}
		return j, fmt.Errorf("salesforce: set bulk job %s %s: %w", id, state, err)
	}
	return j, decode(cl, resp, &j)
}

// BulkJobInfo reads a job's state and counters ("ingest" or "query").
func (c *Client) BulkJobInfo(ctx context.Context, kind, id string) (BulkJob, error) {
	cl := call{method: http.MethodGet, path: jobPath(kind, id), replay: idempotent}
	var j BulkJob
	resp, err := c.do(ctx, cl)
	if err != nil {
		return j, fmt.Errorf("salesforce: bulk job %s: %w", id, err)
	}
	return j, decode(cl, resp, &j)
}

// WaitBulkJob polls a job until it is in a final state, with exponential
// backoff between reads, for at most o.Wait. A job that ends Failed or
// Aborted is returned with a *BulkJobError; one still running after
// o.Wait with an error wrapping ErrBulkWait.
func (c *Client) WaitBulkJob(ctx context.Context, kind, id string, o BulkOptions) (BulkJob, error) {
	o = o.withDefaults()
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(o.PollInterval),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0.2),
		backoff.WithMaxInterval(o.MaxPollInterval),
		backoff.WithMaxElapsedTime(0),
	)
	deadline := time.Now().Add(o.Wait)
	for {
		j, err := c.BulkJobInfo(ctx, kind, id)
		if err != nil {
			return j, err
		}
		if o.Progress != nil {
			o.Progress(j)
		}
		switch j.State {
		case JobComplete:
			return j, nil
		case JobFailed, JobAborted:
			return j, &BulkJobError{Job: j}
		}
		wait := bo.NextBackOff()
		if left := time.Until(deadline); left <= 0 {
			return j, fmt.Errorf("%w: job %s still %s after %s", ErrBulkWait, id, j.State, o.Wait)
		} else if wait > left {
			wait = left
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return j, fmt.Errorf("salesforce: waiting for bulk job %s: %w", id, ctx.Err())
		case <-t.C:
		}
	}
}

// BulkRow is one row of an ingest job's results: the Id and outcome
// Salesforce reported and the row's uploaded values by column.
type BulkRow struct {
	ID      string
	Created bool
	Err     *RecordError // nil for a successful row
	Values  map[string]string
}

// IngestResults are the three result files of an ingest job.
type IngestResults struct {
	Successful, Failed, Unprocessed []BulkRow
}

// IngestResults fetches and parses a finished ingest job's results. A
// file that does not parse, or lacks its sf__ columns, is an error.
func (c *Client) IngestResults(ctx context.Context, id string) (*IngestResults, error) {
	var out IngestResults
	for _, f := range []struct {
		name string
		dst  *[]BulkRow
	}{{"successfulResults", &out.Successful}, {"failedResults", &out.Failed}, {"unprocessedrecords", &out.Unprocessed}} {
		cl := call{method: http.MethodGet, path: jobPath("ingest", id) + "/" + f.name + "/", replay: idempotent, accept: "text/csv"}
		resp, err := c.do(ctx, cl)
		if err != nil {
			return nil, fmt.Errorf("salesforce: bulk job %s %s: %w", id, f.name, err)
		}
		rows, err := parseResults(f.name, resp.body)
		if err != nil {
			return nil, fmt.Errorf("salesforce: bulk job %s %s: %w", id, f.name, err)
		}
		*f.dst = rows
	}
	return &out, nil
}

func parseResults(file string, data []byte) ([]BulkRow, error) {
	recs, err := readCSV(data, ',')
	if err != nil {
		return nil, fmt.Errorf("results do not parse as CSV: %w", err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	hdr := recs[0]
	lead := 0
	switch file {
	case "successfulResults":
		if len(hdr) < 2 || hdr[0] != "sf__Id" || hdr[1] != "sf__Created" {
			return nil, fmt.Errorf("header %q lacks sf__Id,sf__Created", strings.Join(hdr, ","))
		}
		lead = 2
	case "failedResults":
		if len(hdr) < 2 || hdr[0] != "sf__Id" || hdr[1] != "sf__Error" {
			return nil, fmt.Errorf("header %q lacks sf__Id,sf__Error", strings.Join(hdr, ","))
		}
		lead = 2
	}
	out := make([]BulkRow, 0, len(recs)-1)
	for i, r := range recs[1:] {
		if len(r) != len(hdr) {
			return nil, fmt.Errorf("row %d has %d columns, the header %d", i+2, len(r), len(hdr))
		}
		row := BulkRow{Values: make(map[string]string, len(hdr)-lead)}
		for k := lead; k < len(hdr); k++ {
			row.Values[hdr[k]] = r[k]
		}
		switch file {
		case "successfulResults":
			row.ID = r[0]
			b, err := strconv.ParseBool(r[1])
			if err != nil {
				return nil, fmt.Errorf("row %d: sf__Created %q", i+2, r[1])
			}
			row.Created = b
		case "failedResults":
			row.ID = r[0]
			e := ParseBulkError(r[1])
			row.Err = &e
		}
		out = append(out, row)
	}
	return out, nil
}

// BulkOutcome is what became of one input record of RunIngest.
type BulkOutcome struct {
	ID      string
	Created bool
	// Err is the row's error (classify it with Err.Class(), as for
	// collections); nil when it succeeded or was not attempted.
	Err *RecordError
	// Unprocessed: Salesforce never attempted the row (the job failed or
	// was aborted, or its result is missing); it is safe to send again.
	Unprocessed bool
	// Rejected: the row could not be encoded and was never sent.
	Rejected error
}

// IngestRun is the outcome of RunIngest.
type IngestRun struct {
	Jobs     []BulkJob
	Outcomes []BulkOutcome // one per input record, in input order
	// Unmatched counts result rows that matched no uploaded row; they are
	// not counted as anyone's outcome.
	Unmatched int
}

// RunIngest writes recs through Bulk API 2.0: encoded with BulkEncoder
// (columns = fields), one job per upload of at most maxBytes (0 =
// DefaultBulkUploadBytes), each created, uploaded, closed, waited for and
// read back; every input record gets an outcome. Result rows are matched
// to input rows by their uploaded values (Salesforce does not keep the
// order), so rows must differ in at least one column (the external ID of
// an upsert does it). A job that ends Failed or Aborted leaves its
// unattempted rows Unprocessed and is reported as a *BulkJobError joined
// into the returned error, after the other jobs ran.
func (c *Client) RunIngest(ctx context.Context, spec IngestSpec, fields []string, recs []Record, maxBytes int, o BulkOptions) (*IngestRun, error) {
	enc := NewBulkEncoder(fields)
	if maxBytes > 0 {
		enc.MaxBytes = maxBytes
	}
	run := &IngestRun{Outcomes: make([]BulkOutcome, len(recs))}
	for i, r := range recs {
		if err := enc.Add(r); err != nil {
			run.Outcomes[i].Rejected = err
		}
	}
	var errs []error
	for _, ch := range enc.Chunks() {
		j, err := c.RunIngestChunk(ctx, spec, ch, o)
		if j.ID != "" {
			run.Jobs = append(run.Jobs, j)
		}
		var je *BulkJobError
		if err != nil && !errors.As(err, &je) {
			return run, errors.Join(append(errs, err)...)
		}
		if err != nil {
			errs = append(errs, err)
		}
		res, err := c.IngestResults(ctx, j.ID)
		if err != nil {
			return run, errors.Join(append(errs, err)...)
		}
		run.Unmatched += MatchIngestResults(fields, recs, ch, res, run.Outcomes)
	}
	return run, errors.Join(errs...)
}

// RunIngestChunk creates a job, uploads one chunk, closes the job and waits
// for it. An error before the close aborts the job (best effort).
func (c *Client) RunIngestChunk(ctx context.Context, spec IngestSpec, ch BulkChunk, o BulkOptions) (BulkJob, error) {
	j, err := c.CreateIngestJob(ctx, spec)
	if err != nil {
		return j, err
	}
	if err := c.UploadJobData(ctx, j.ID, ch.Data); err != nil {
		_, _ = c.AbortJob(context.WithoutCancel(ctx), "ingest", j.ID)
		return j, err
	}
	if _, err := c.CloseJob(ctx, j.ID); err != nil {
		_, _ = c.AbortJob(context.WithoutCancel(ctx), "ingest", j.ID)
		return j, err
	}
	return c.WaitBulkJob(ctx, "ingest", j.ID, o)
}

// MatchIngestResults gives each input row of ch its outcome in out
// (indexed like recs) from a job's results, matching rows by their
// encoded values. Rows of ch without a result are Unprocessed. It returns
// how many result rows matched no uploaded row.
func MatchIngestResults(fields []string, recs []Record, ch BulkChunk, res *IngestResults, out []BulkOutcome) int {
	enc := NewBulkEncoder(fields)
	byKey := make(map[string][]int, len(ch.Rows))
	for _, idx := range ch.Rows {
		k := enc.rowKey(recs[idx])
		byKey[k] = append(byKey[k], idx)
	}
	take := func(row BulkRow) (int, bool) {
		var b strings.Builder
		for _, f := range fields {
			b.WriteString(row.Values[f])
			b.WriteByte(0)
		}
		k := b.String()
		l := byKey[k]
		if len(l) == 0 {
			return 0, false
		}
		byKey[k] = l[1:]
		return l[0], true
	}
	unmatched := 0
	seen := map[int]bool{}
	for si, set := range [][]BulkRow{res.Successful, res.Failed, res.Unprocessed} {
		for _, row := range set {
			idx, ok := take(row)
			if !ok {
				unmatched++
				continue
			}
			seen[idx] = true
			o := &out[idx]
			o.ID, o.Created, o.Err = row.ID, row.Created, row.Err
			o.Unprocessed = si == 2
		}
	}
	for _, idx := range ch.Rows {
		if !seen[idx] {
			out[idx].Unprocessed = true
		}
	}
	return unmatched
}

// rowKey is a record's cells as Salesforce echoes them back (unquoted),
// NUL-separated.
func (e *BulkEncoder) rowKey(r Record) string {
	var b strings.Builder
	for _, f := range e.fields {
		if v, ok := r[f]; ok {
			s, _ := e.cell(v)
			b.WriteString(s)
		}
		b.WriteByte(0)
	}
	return b.String()
}

package pipeline

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/contactsync/contactsync/pkg/upsert"
)

// Summary accounts for every delta of a run. Its JSON form is what
// `standalone --json` prints.
type Summary struct {
	Read         int64    `json:"read"`
	Rejected     int64    `json:"rejected"`
	Published    int64    `json:"published"`
	Duplicates   int64    `json:"duplicates"` // already in the stream (same external ID and version): not delivered again
	Created      int64    `json:"created"`
	Updated      int64    `json:"updated"`
	Adopted      int64    `json:"adopted"`
	Rekeyed      int64    `json:"rekeyed"`
	StaleSkipped int64    `json:"stale_skipped"`
	Held         int64    `json:"held"`
	DeadLettered int64    `json:"dead_lettered"`
	Deleted      int64    `json:"deleted"`
	Exceptions   int64    `json:"exceptions"`
	APICalls     int64    `json:"api_calls"`
	DurationMS   int64    `json:"duration_ms"`
	Policy       string   `json:"policy"`
	Salesforce   string   `json:"salesforce"` // "embedded emulator" or the instance URL
	Paused       string   `json:"paused,omitempty"`
	Gaps         []string `json:"gaps,omitempty"`
	Shutdown     Shutdown `json:"shutdown"`
	// ExceptionsByKind counts the exception records by Kind__c, and
	// APICallsByRoute the requests by route ("POST /composite/sobjects"),
	// as the embedded emulator saw them (absent against a real org).
	ExceptionsByKind map[string]int64 `json:"exceptions_by_kind,omitempty"`
	APICallsByRoute  map[string]int64 `json:"api_calls_by_route,omitempty"`
	// RetriedBatches counts upserter batches sent again after a transient
	// failure; ReconcilerRetries the conflict events and batches the
	// reconciler tried again.
	RetriedBatches    int64 `json:"retried_batches"`
	ReconcilerRetries int64 `json:"reconciler_retries"`
	// UpsertCalls are the upserters' Collections upsert calls, by why each
	// went out, with the records they carried: the batch fill, against
	// BatchSize records per call.
	UpsertCalls upsert.CallSnapshot `json:"upsert_calls"`
	BatchSize   int                 `json:"batch_size"`
	// DataDir is the embedded JetStream store kept after the run ("" when
	// it was a temporary one, or NATS_URL was used).
	DataDir string `json:"data_dir,omitempty"`
	// Inspect is the command that looks at the run's data afterwards.
	Inspect string `json:"inspect,omitempty"`
}

// Shutdown says how the run stopped its members.
type Shutdown struct {
	Upserters  int    `json:"upserters"`
	Stopped    int    `json:"stopped"`    // upserters that finished stopping
	Reconciler bool   `json:"reconciler"` // the reconciler stopped
	DurationMS int64  `json:"duration_ms"`
	Deadline   string `json:"deadline"` // the one deadline they drained under
}

// Finished is the number of published deltas that reached an outcome.
func (s Summary) Finished() int64 {
	return s.Created + s.Updated + s.Adopted + s.Rekeyed + s.StaleSkipped + s.Held + s.DeadLettered + s.Deleted
}

// Check returns what does not add up; empty means every delta is accounted for.
func (s Summary) Check() []string {
	var gaps []string
	if s.Rejected+s.Published+s.Duplicates != s.Read {
		gaps = append(gaps, fmt.Sprintf("read %d but rejected %d + published %d + duplicates %d = %d",
			s.Read, s.Rejected, s.Published, s.Duplicates, s.Rejected+s.Published+s.Duplicates))
	}
	if f := s.Finished(); f != s.Published {
		why := "still in CONTACTS (not lost: a later run or the upserter service picks them up)"
		if s.Paused != "" {
			why = "waiting in CONTACTS because writes are paused: " + s.Paused
		}
		gaps = append(gaps, fmt.Sprintf("published %d but %d reached an outcome; %d %s", s.Published, f, s.Published-f, why))
	}
	return gaps
}

// kindNote says what each exception kind means, for the summary.
var kindNote = map[string]string{
	"Email_Conflict":               "same email on a contact linked to another external ID: held, nothing written",
	"Duplicate_Created":            "saved next to a contact with the same email (policy external-id)",
	"Rekeyed":                      "the contact with the same email re-keyed to the incoming ID (policy email)",
	"Ambiguous_Email":              "several contacts carry the email: held",
	"Blocked_By_Rule":              "the duplicate rule blocks the save: held",
	"Multiple_External_Id_Matches": "the external ID matches several contacts: held",
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// WriteTable prints the summary for people.
func (s Summary) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, v int64, note string) { fmt.Fprintf(tw, "%s\t%d\t  %s\n", name, v, note) }
	fmt.Fprintf(tw, "contactsync run\t\t  policy=%s, salesforce=%s\n", s.Policy, s.Salesforce)
	row("read", s.Read, "input rows")
	row("rejected", s.Rejected, "invalid at ingest (reasons logged per line)")
	row("published", s.Published, "deltas accepted by JetStream")
	if s.Duplicates > 0 {
		row("duplicates", s.Duplicates, "same external ID and version already published")
	}
	row("created", s.Created, "new Contacts")
	row("updated", s.Updated, "existing Contacts updated by external ID")
	row("adopted", s.Adopted, "unlinked Contacts with the same email, linked to the external ID")
	row("rekeyed", s.Rekeyed, "Contacts re-keyed by the email policy")
	row("stale_skipped", s.StaleSkipped, "older than a version already applied, or superseded in the same batch")
	row("held", s.Held, "not written: duplicate-rule conflict held for a steward")
	row("dead_lettered", s.DeadLettered, "in the DLQ with Salesforce's reason (syncctl dlq list)")
	if s.Deleted > 0 {
		row("deleted", s.Deleted, "Contacts deleted (op delete), or already gone")
	}
	row("exceptions", s.Exceptions, "Contact_Sync_Exception__c records written")
	for _, k := range sortedKeys(s.ExceptionsByKind) {
		row("  "+k, s.ExceptionsByKind[k], kindNote[k])
	}
	row("retried_batches", s.RetriedBatches, "upserter batches sent again after a transient Salesforce error")
	row("reconciler_retries", s.ReconcilerRetries, "conflict events the reconciler tried again")
	if c := s.UpsertCalls; c.Calls > 0 {
		note := fmt.Sprintf("Collections upserts, %.1f records each (%.0f%% of %d): %s", float64(c.Records)/float64(c.Calls), 100*c.Fill(s.BatchSize), s.BatchSize, c.Reasons())
		row("upsert_calls", c.Calls, note)
	}
	row("api_calls", s.APICalls, "Salesforce REST calls")
	for _, k := range sortedKeys(s.APICallsByRoute) {
		row("  "+k, s.APICallsByRoute[k], "")
	}
	row("duration_ms", s.DurationMS, "")
	tw.Flush()
	if s.Paused != "" {
		fmt.Fprintf(w, "writes paused: %s\n", s.Paused)
	}
	if sd := s.Shutdown; sd.Upserters > 0 {
		fmt.Fprintf(w, "shutdown: %d of %d upserters and the reconciler stopped in %.1fs (one deadline: %s)\n",
			sd.Stopped, sd.Upserters, float64(sd.DurationMS)/1000, sd.Deadline)
	}
	for _, g := range s.Gaps {
		fmt.Fprintf(w, "GAP: %s\n", g)
	}
	if len(s.Gaps) == 0 {
		fmt.Fprintln(w, "every delta is accounted for.")
	}
	if s.Inspect != "" {
		fmt.Fprintf(w, "inspect the run's data: %s\n", s.Inspect)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Report is what one run did and found. Its JSON form is what --json prints.
type Report struct {
	Contacts       int `json:"contacts"`
	Deltas         int `json:"deltas"`       // input rows
	ValidDeltas    int `json:"valid_deltas"` // rows the producer must accept
	StreamMessages int `json:"stream_messages"`
	LateDeltas     int `json:"late_deltas"` // older versions moved far behind (a later chunk)
	Chunks         int `json:"chunks"`
	ProducerRuns   int `json:"producer_runs"`

	Upserters          int `json:"upserters"`
	UpserterKills      int `json:"upserter_kills"`
	UpserterRestarts   int `json:"upserter_restarts"`
	NodeKills          int `json:"node_kills"`
	NodeRestarts       int `json:"node_restarts"`
	ReconcilerRestarts int `json:"reconciler_restarts"`
	UnexpectedExits    int `json:"unexpected_exits"` // workers that exited on their own (restarted)

	WriteRequests     int            `json:"write_requests"`      // Contact write calls through the proxy
	RecordWrites      int            `json:"record_writes"`       // Contact records in them
	AppliedWrites     int            `json:"applied_writes"`      // records Salesforce accepted
	RewrittenContacts int            `json:"rewritten_contacts"`  // contacts with more than one applied write (where order can go wrong)
	SyncVersionWrites int            `json:"sync_version_writes"` // applied writes carrying Sync_Version__c
	RefusedByCode     map[string]int `json:"refused_by_code"`     // Contact records Salesforce refused, by errorCode
	ExceptionWrites   int            `json:"exception_writes"`
	Regressions       int            `json:"regressions"`        // applied writes older than one applied before them
	RegressedContacts int            `json:"regressed_contacts"` // contacts with at least one
	OverlappingWrites int            `json:"overlapping_writes"` // pairs of in-flight writes of one contact with different versions
	UnversionedWrites int            `json:"unversioned_writes"`
	UnattributedWrite int            `json:"unattributed_writes"`
	SyncVersionWrong  int            `json:"sync_version_mismatches"`
	UnparsedWrites    int            `json:"unparsed_writes"`

	StaleAtEnd       int `json:"stale_contacts"`
	Missing          int `json:"missing"`
	Duplicates       int `json:"duplicates"`
	Unexpected       int `json:"unexpected_contacts"`
	InvalidWritten   int `json:"invalid_written"`
	ConflictsWritten int `json:"conflicts_written"`

	RejectedExpected int `json:"rejected_expected"`
	RejectedActual   int `json:"rejected_actual"`

	DLQExpected   int `json:"dlq_expected"`
	DLQActual     int `json:"dlq_actual"`
	DLQMissing    int `json:"dlq_missing"`
	DLQUnexpected int `json:"dlq_unexpected"`
	DLQDuplicates int `json:"dlq_duplicates"`
	DLQWrongCode  int `json:"dlq_wrong_code"`

	ExceptionsExpected   int `json:"exceptions_expected"`
	ExceptionsActual     int `json:"exceptions_actual"`
	ExceptionsMissing    int `json:"exceptions_missing"`
	ExceptionDuplicates  int `json:"exception_duplicates"`
	ExceptionsUnexpected int `json:"exceptions_unexpected"`

	Quiescent  bool     `json:"quiescent"`
	WallMS     int64    `json:"wall_ms"`
	Dir        string   `json:"dir,omitempty"`
	Violations []string `json:"violations"`
	Examples   []string `json:"examples,omitempty"`
	Workers    []string `json:"worker_errors,omitempty"` // what exited workers said last
	Logs       []string `json:"logs,omitempty"`          // log files, listed when the run failed
}

func (r *Report) violate(format string, args ...any) {
	r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
}

func (r *Report) example(format string, args ...any) {
	if len(r.Examples) < 40 {
		r.Examples = append(r.Examples, fmt.Sprintf(format, args...))
	}
}

func codes(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// WriteJSON prints the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name string, v any, note string) { fmt.Fprintf(tw, "%s\t%v\t%s\n", name, v, note) }
	pair := func(a, b int) string { return fmt.Sprintf("%d / %d", a, b) }
	fmt.Fprintln(tw, "chaos run\t\t")
	row("contacts", r.Contacts, "generated contacts")
	row("deltas", r.Deltas, fmt.Sprintf("input rows in %d chunks (%d producer runs); %d valid, %d older versions sent late", r.Chunks, r.ProducerRuns, r.ValidDeltas, r.LateDeltas))
	row("stream messages", r.StreamMessages, "deltas stored in CONTACTS")
	row("rejected at ingest", pair(r.RejectedExpected, r.RejectedActual), "expected / refused by the producer")
	row("upserters", r.Upserters, "fleet size")
	row("upserter kills", r.UpserterKills, "SIGKILL")
	row("upserter restarts", r.UpserterRestarts, "incl. restarts after unexpected exits")
	row("node kills", pair(r.NodeKills, r.NodeRestarts), "NATS nodes SIGKILLed / restarted")
	row("reconciler restarts", r.ReconcilerRestarts, "SIGTERM, then started again")
	row("unexpected exits", r.UnexpectedExits, "workers that exited on their own")
	row("write requests", r.WriteRequests, "Contact write calls through the recording proxy")
	row("record writes", pair(r.RecordWrites, r.AppliedWrites), "Contact records sent / accepted by Salesforce")
	row("rewritten contacts", r.RewrittenContacts, "contacts with more than one applied write")
	row("Sync_Version__c", r.SyncVersionWrites, "applied writes carrying it")
	row("rollbacks refused", r.RefusedByCode["FIELD_CUSTOM_VALIDATION_EXCEPTION"], "writes Salesforce's validation rule refused (the Sync_Version__c guard)")
	row("exception writes", r.ExceptionWrites, "Contact_Sync_Exception__c records sent")
	row("regressions", r.Regressions, fmt.Sprintf("writes of an older version after a newer one was applied (%d contacts)", r.RegressedContacts))
	row("overlapping writes", r.OverlappingWrites, "two writes of one contact in flight at once, different versions")
	row("stale contacts at end", r.StaleAtEnd, "Salesforce holds an older version than the newest valid delta")
	row("missing", r.Missing, "valid contacts not in Salesforce")
	row("duplicates", r.Duplicates, "extra Contacts for one external ID (case-insensitive)")
	row("unexpected contacts", r.Unexpected, "Contacts nobody sent")
	row("invalid written", r.InvalidWritten, "refused rows (ingest or Salesforce) that reached a Contact")
	row("conflicts written", r.ConflictsWritten, "held conflicts (strict) that were written anyway")
	if r.UnversionedWrites+r.UnattributedWrite+r.SyncVersionWrong+r.UnparsedWrites > 0 {
		row("unreadable writes", fmt.Sprintf("%d/%d/%d/%d", r.UnversionedWrites, r.UnattributedWrite, r.SyncVersionWrong, r.UnparsedWrites),
			"no marker / no contact / Sync_Version__c ≠ marker / unparsed")
	}
	row("DLQ", pair(r.DLQExpected, r.DLQActual), fmt.Sprintf("expected / actual (missing %d, unexpected %d, duplicates %d, wrong code %d)",
		r.DLQMissing, r.DLQUnexpected, r.DLQDuplicates, r.DLQWrongCode))
	row("exceptions", pair(r.ExceptionsExpected, r.ExceptionsActual), fmt.Sprintf("expected / actual (missing %d, duplicates %d, unexpected %d)",
		r.ExceptionsMissing, r.ExceptionDuplicates, r.ExceptionsUnexpected))
	row("quiescent", r.Quiescent, "")
	row("wall time", fmt.Sprintf("%.1fs", float64(r.WallMS)/1000), "")
	tw.Flush()
	fmt.Fprintf(w, "refused records by errorCode (a whole-request refusal counts each record): %s\n", codes(r.RefusedByCode))
	for _, e := range r.Workers {
		fmt.Fprintln(w, "worker:", e)
	}
	for _, e := range r.Examples {
		fmt.Fprintln(w, "example:", e)
	}
	for _, v := range r.Violations {
		fmt.Fprintln(w, "VIOLATION:", v)
	}
	if len(r.Violations) == 0 {
		fmt.Fprintln(w, "no violations: every invariant held.")
	} else if len(r.Logs) > 0 {
		fmt.Fprintf(w, "logs (%s):\n", r.Dir)
		for _, l := range r.Logs {
			fmt.Fprintln(w, "  ", l)
		}
	}
}

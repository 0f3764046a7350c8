package ops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

func newTab(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func fmtBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// truncate cuts s to n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeCounts prints a two-column table sorted by count, largest first.
func writeCounts(w io.Writer, title, key string, m map[string]uint64) {
	fmt.Fprintf(w, "\n%s\n", title)
	if len(m) == 0 {
		fmt.Fprintln(w, "  (none)")
		return
	}
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int {
		switch {
		case m[a] > m[b]:
			return -1
		case m[a] < m[b]:
			return 1
		}
		return 0
	})
	tw := newTab(w)
	fmt.Fprintf(tw, "  %s\tCOUNT\n", strings.ToUpper(key))
	var total uint64
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%d\n", k, m[k])
		total += m[k]
	}
	fmt.Fprintf(tw, "  total\t%d\n", total)
	_ = tw.Flush()
}

// WriteStatus prints s as tables.
func WriteStatus(w io.Writer, s Status) error {
	fmt.Fprintf(w, "Streams (at %s)\n", fmtTime(s.At))
	tw := newTab(w)
	fmt.Fprintln(tw, "  STREAM\tMESSAGES\tBYTES\tFIRST\tLAST\tCONSUMERS")
	for _, st := range s.Streams {
		if st.Missing {
			fmt.Fprintf(tw, "  %s\t(missing)\t\t\t\t\n", st.Name)
			continue
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%d\n", st.Name, st.Messages, fmtBytes(st.Bytes), fmtTime(st.FirstTime), fmtTime(st.LastTime), st.Consumers)
	}
	_ = tw.Flush()

	fmt.Fprintf(w, "\nPartitions (lag %d)\n", s.PartitionLag)
	tw = newTab(w)
	fmt.Fprintln(tw, "  CONSUMER\tPENDING\tACK_PENDING\tLAG\tREDELIVERED\tOWNER (LEASE RENEWED)")
	rows := slices.Clone(s.Partitions)
	if s.Reconciler != nil {
		rows = append(rows, *s.Reconciler)
	}
	rows = append(rows, s.Other...)
	for _, c := range rows {
		name := c.Name
		if c.Stream != "CONTACTS" {
			name = c.Stream + "/" + c.Name
		}
		if c.Missing {
			fmt.Fprintf(tw, "  %s\t(not created)\t\t\t\t\n", name)
			continue
		}
		owner := dash(c.Owner)
		if c.Owner != "" {
			owner += fmt.Sprintf(" (%s ago)", max(s.At.Sub(c.OwnerRenewed), 0).Round(time.Second))
		}
		if c.Paused {
			owner += " (paused)"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%s\n", name, c.Pending, c.AckPending, c.Lag, c.Redelivered, owner)
	}
	_ = tw.Flush()

	writeCounts(w, "Dead letters by segment", "segment", s.DLQBySegment)
	writeCounts(w, "Dead letters by error code", "code", s.DLQByCode)

	fmt.Fprintf(w, "\nUpserter members (%d)\n", len(s.Members))
	switch {
	case s.MembersMissing:
		fmt.Fprintln(w, "  (bucket missing)")
	case len(s.Members) == 0:
		fmt.Fprintln(w, "  (none alive)")
	}
	for _, m := range s.Members {
		r, ok := s.MemberReports[m]
		if !ok {
			fmt.Fprintf(w, "  %s\n", m)
			continue
		}
		line := fmt.Sprintf("  %s  partitions %v, freshness budget %v", m, r.Partitions, time.Duration(r.FreshnessBudgetMS)*time.Millisecond)
		if r.Stretched {
			line += " (stretched: API pressure)"
		}
		if r.APIMax > 0 {
			line += fmt.Sprintf(", org API use %d/%d", r.APIUsed, r.APIMax)
			if r.ProjectedDailyShare > 0 {
				line += fmt.Sprintf(", projected %.0f%% of the allocation per day", 100*r.ProjectedDailyShare)
			}
			if r.APIExhaustedInS > 0 && r.APIExhaustedInS < 24*3600 {
				line += fmt.Sprintf(", runs out in %v at this rate", (time.Duration(r.APIExhaustedInS) * time.Second).Round(time.Minute))
			}
		}
		if c := r.Calls; c.Calls > 0 {
			line += fmt.Sprintf(", batch fill %.0f%% (%d upsert calls, %.1f records each", 100*c.Fill(r.BatchSize), c.Calls, float64(c.Records)/float64(c.Calls))
			if c.ByReason["full"] != c.Calls {
				line += "; " + c.Reasons()
			}
			line += ")"
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

// WriteDeadLetters prints one line per dead letter.
func WriteDeadLetters(w io.Writer, dls []DeadLetter) error {
	tw := newTab(w)
	fmt.Fprintln(tw, "SEQ\tSEGMENT\tEXTERNAL_ID\tCODE\tMESSAGE\tFAILED_AT\tDELIVERIES")
	for _, d := range dls {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\n", d.Seq, dash(d.Segment), dash(truncate(d.ExternalID, 40)),
			dash(d.ErrorCode), dash(truncate(d.Message, 60)), fmtTime(d.FailedAt), d.Deliveries)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d dead letters\n", len(dls))
	return nil
}

// payloadJSON is data as JSON: itself when valid, else a JSON string.
func payloadJSON(data []byte) json.RawMessage {
	if json.Valid(data) {
		return data
	}
	b, _ := json.Marshal(string(data))
	return b
}

// WriteDeadLetter prints one dead letter's headers and indented payload.
func WriteDeadLetter(w io.Writer, d DeadLetter) error {
	fmt.Fprintf(w, "DLQ seq %d  segment %s  stored %s\n\nHeaders:\n", d.Seq, dash(d.Segment), fmtTime(d.Stored))
	tw := newTab(w)
	for _, k := range slices.Sorted(maps.Keys(d.Header)) {
		for _, v := range d.Header[k] {
			fmt.Fprintf(tw, "  %s:\t%s\n", k, v)
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nPayload:")
	var buf bytes.Buffer
	if err := json.Indent(&buf, d.Data, "  ", "  "); err != nil {
		fmt.Fprintf(w, "  (not JSON: %v)\n  %q\n", err, d.Data)
		return nil
	}
	fmt.Fprintf(w, "  %s\n", buf.Bytes())
	return nil
}

// WriteReplay prints a replay's items and totals.
func WriteReplay(w io.Writer, r ReplayResult, dryRun bool) {
	tw := newTab(w)
	fmt.Fprintln(tw, "SEQ\tOUTCOME\tAFTER\tSUBJECT\tEXTERNAL_ID\tNOTE")
	for _, it := range r.Items {
		note := it.Reason
		if it.StreamSeq > 0 {
			note = fmt.Sprintf("CONTACTS seq %d", it.StreamSeq)
		}
		if it.After == "failed_again" {
			note += fmt.Sprintf("; new dead letter %d: %s %s", it.NewSeq, it.NewCode, truncate(it.NewMessage, 80))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", it.Seq, it.Outcome, dash(it.After), dash(it.Subject), dash(it.ExternalID), note)
	}
	_ = tw.Flush()
	if dryRun {
		fmt.Fprintf(w, "dry run: %d would be replayed, %d skipped; nothing published\n", countOutcome(r.Items, "would_replay"), r.Skipped)
		return
	}
	fmt.Fprintf(w, "replayed %d, duplicates %d, skipped %d, deleted from DLQ %d, failed again %d, refused %d\n",
		r.Replayed, r.Duplicates, r.Skipped, r.Deleted, r.FailedAgain, r.Refused)
	if r.Waited {
		fmt.Fprintf(w, "after the replay: applied %d, failed again %d, no outcome yet %d\n", r.Applied, r.FailedAfter, r.NoOutcome)
	}
}

func countOutcome(items []ReplayItem, outcome string) int {
	n := 0
	for _, it := range items {
		if it.Outcome == outcome {
			n++
		}
	}
	return n
}

// WriteProgress prints one progress line of a backfill.
func WriteProgress(w io.Writer, r BackfillResult) {
	rate := 0.0
	if s := r.Elapsed.Seconds(); s > 0 {
		rate = float64(r.Read) / s
	}
	fmt.Fprintf(w, "backfill %s [%s] %s: read %d, published %d, duplicates %d, skipped %d, rejected %d (%.0f/s)\n",
		r.Segment, r.Ticket, r.Elapsed.Round(time.Second), r.Read, r.Published, r.Duplicates, r.Skipped, len(r.Rejected), rate)
}

// WriteBackfill prints a backfill's summary.
func WriteBackfill(w io.Writer, r BackfillResult) {
	if r.DryRun {
		fmt.Fprintf(w, "dry run: segment %s: read %d, would publish %d, skipped %d, rejected %d; nothing published\n",
			r.Segment, r.Read, r.WouldPublish, r.Skipped, len(r.Rejected))
		return
	}
	span := ""
	if r.FirstSeq > 0 {
		span = fmt.Sprintf(" (CONTACTS seq %d..%d)", r.FirstSeq, r.LastSeq)
	}
	fmt.Fprintf(w, "backfill %s [%s]: read %d%s, published %d, duplicates %d, skipped %d, rejected %d in %s\n",
		r.Segment, r.Ticket, r.Read, span, r.Published, r.Duplicates, r.Skipped, len(r.Rejected), r.Elapsed.Round(time.Millisecond))
}

// WriteReport prints r as tables.
func WriteReport(w io.Writer, r Report) error {
	fmt.Fprint(w, "contactsync report")
	writeCounts(w, "Deltas held in CONTACTS by segment", "segment", r.DeltasBySegment)
	writeCounts(w, "Dead letters by segment", "segment", r.DLQBySegment)
	writeCounts(w, "Dead letters by error code", "code", r.DLQByCode)
	writeCounts(w, "Conflict events by kind", "kind", r.ConflictsByKind)
	if r.ConflictsUndecodable > 0 {
		fmt.Fprintf(w, "  (%d conflict events could not be decoded)\n", r.ConflictsUndecodable)
	}
	if r.SalesforceError != "" {
		fmt.Fprintf(w, "\nSalesforce: query failed: %s\n", r.SalesforceError)
		return nil
	}
	if r.Salesforce == nil {
		fmt.Fprintln(w, "\nSalesforce: not queried (SF_LOGIN_URL not set)")
		return nil
	}
	fmt.Fprintln(w, "\nContact_Sync_Exception__c by kind and status")
	if len(r.Salesforce.Exceptions) == 0 {
		fmt.Fprintln(w, "  (none)")
	} else {
		tw := newTab(w)
		fmt.Fprintln(tw, "  KIND\tSTATUS\tCOUNT")
		for _, e := range r.Salesforce.Exceptions {
			fmt.Fprintf(tw, "  %s\t%s\t%d\n", e.Kind, e.Status, e.Count)
		}
		_ = tw.Flush()
	}
	if a := r.Salesforce.API; a != nil {
		pct := 0.0
		if a.Max > 0 {
			pct = 100 * float64(a.Used) / float64(a.Max)
		}
		fmt.Fprintf(w, "\nDaily API requests: %d used of %d (%.1f%%), %d remaining\n", a.Used, a.Max, pct, a.Remaining)
	}
	return nil
}

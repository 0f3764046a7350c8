package ops

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/report"
)

// ErrReportsNotEmpty is returned by `syncctl report --daily` when any of the
// four reports has a row: exit 3 (cli.ErrIncomplete), for alerting.
var ErrReportsNotEmpty = fmt.Errorf("%w: the daily reports have rows", cli.ErrIncomplete)

// DailyOptions are the inputs of `syncctl report --daily`.
type DailyOptions struct {
	Org     report.Org
	Source  *report.Source // nil = what the fleet applied (contact state)
	Config  report.Config
	ShowPII bool
}

// DailyReport runs the four reports on the org, this fleet's contact state
// and dead letters.
func (o *Ops) DailyReport(ctx context.Context, opts DailyOptions) (*report.Result, error) {
	r, _, err := o.dailyReport(ctx, opts)
	return r, err
}

// dailyReport is DailyReport that also returns the dead letters it read
// (headers only, in clear), for reconcile --repair.
func (o *Ops) dailyReport(ctx context.Context, opts DailyOptions) (*report.Result, []DeadLetter, error) {
	in := report.Inputs{Source: opts.Source}
	kv, err := o.js.KeyValue(ctx, bus.BucketState)
	if err != nil {
		return nil, nil, fmt.Errorf("bucket %s: %w", bus.BucketState, err)
	}
	in.State = kv
	dls, err := o.ListDeadLetters(ctx, DLQFilter{}, false)
	if err != nil {
		return nil, nil, fmt.Errorf("dead letters: %w", err)
	}
	for _, dl := range dls {
		if !opts.ShowPII {
			dl = dl.Redacted()
		}
		in.DeadLetters = append(in.DeadLetters, report.DeadLetter{Seq: dl.Seq, Segment: dl.Segment, ExternalID: dl.ExternalID,
			Code: dl.ErrorCode, Message: dl.Message, FailedAt: dl.FailedAt})
	}
	cfg := opts.Config
	cfg.ShowPII = opts.ShowPII
	r, err := report.Run(ctx, opts.Org, in, cfg)
	return r, dls, err
}

// WriteDailySummary prints a run's totals and what each read cost.
func WriteDailySummary(w io.Writer, s report.Summary) error {
	t := s.Totals
	tw := newTab(w)
	fmt.Fprintln(tw, "REPORT\tROWS\t")
	fmt.Fprintf(tw, "1 duplicate emails\t%d\tcontacts sharing an email with another external ID\n", t.DuplicateEmails)
	fmt.Fprintf(tw, "2 failures\t%d\tdead letters and exception records not applied\n", t.Failures)
	fmt.Fprintf(tw, "3 source gaps\t%d\tmissing from Salesforce %d, unknown to the source %d, drift %d\n", t.SourceGaps, t.MissingFromSF, t.UnknownToSource, t.Drift)
	fmt.Fprintf(tw, "4 updated 24h\t%d\tcontacts modified in the last 24 hours\n", t.Updated24h)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nsource: %s · %d contacts in Salesforce · daily API %d of %d\n\n", orNone(s.Source), s.Contacts, s.APIUsed, s.APIMax)
	tw = newTab(w)
	fmt.Fprintln(tw, "READ\tVIA\tROWS\tAPI_CALLS\tFOR")
	for _, c := range s.Calls {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", c.Read, c.Via, c.Rows, c.Calls, c.For)
	}
	fmt.Fprintf(tw, "total\t\t\t%d\t\n", s.TotalCalls)
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.Dir != "" {
		fmt.Fprintf(w, "\nwritten to %s: %s\n", s.Dir, strings.Join(baseNames(s.Files), ", "))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = p[strings.LastIndexAny(p, `/\`)+1:]
	}
	return out
}

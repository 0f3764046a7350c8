package ops

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/cli"
)

func reconcileCommand() *cli.Command {
	return &cli.Command{
		Name:    "reconcile",
		Summary: "re-drive the contacts of daily report 3 through the upserters (--repair --ticket T)",
		Writes:  true,
		Help: `syncctl reconcile --repair --ticket T [--source postgres://…|FILE [--mapping M]] [--dry-run] [--json]

Computes daily report 3 as report --daily does (same flags for its source;
SF_LOGIN_URL and the SF_* credentials required) and re-drives its contacts
through the normal pipeline:
  missing from Salesforce (deleted by hand), or drift (edited by hand), and
    applied by the fleet: the delta at the applied version is read from
    CONTACTS (one filtered scan for all of them), carrying the fields of the
    contact's history up to it, and republished to its original subject with
    Cs-Repair-Ticket: T. The upserter writes such a delta although its
    version equals the applied one; a newer delta published meanwhile wins
    (the repair's version is then older and skipped as stale), so a repair
    never rolls a contact back, and a contact the fleet deleted stays deleted.
  in the source (--source FILE) but never applied: the source's row.
  anything else is listed with its reason and not re-driven (exit 3):
    unknown_to_source, applied_delta_not_in_stream (CONTACTS keeps 7 days;
    give --source FILE to publish the source's row instead),
    source_has_no_delta_fields (a postgres source lists IDs only),
    deleted_by_the_fleet, never_applied.
Each publish has Nats-Msg-Id repair:<ticket>:<key>:<version> and is recorded
under repair.<ticket>.<key> in the contact_state bucket; a finished run
records repair.<ticket>, and the same ticket then publishes nothing ("ticket T
already re-drove N contacts"); an interrupted run resumes where it stopped. A
new ticket re-drives again. --dry-run lists what would be re-driven and
publishes and records nothing. Progress goes to stderr, the summary (with
the API calls report 3 cost) to stdout. Emails are masked unless --show-pii.
Exit status: 0 done (also nothing to repair), 3 some contacts could not be
re-driven, 1 failure, 2 usage.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			n := addNATSFlags(fs)
			var g gapFlags
			var repair bool
			var ticket string
			fs.BoolVar(&repair, "repair", false, "re-drive report 3's contacts (required: the only mode)")
			fs.StringVar(&ticket, "ticket", "", "change/incident ticket: names the repair's record and every Nats-Msg-Id (required)")
			g.add(fs, "")
			return func(ctx context.Context, in *cli.Invocation) error {
				if err := in.NoArgs(); err != nil {
					return err
				}
				switch {
				case !repair:
					return cli.Usagef("--repair is required (reconcile has no other mode yet)")
				case ticket == "":
					return cli.Usagef("--ticket is required (it makes the repair idempotent)")
				}
				if err := checkTicket(ticket); err != nil {
					return err
				}
				r, err := g.open(ctx, n, "reconcile --repair", true)
				if err != nil {
					return err
				}
				defer r.done()
				res, err := r.s.ops.Repair(r.ctx, RepairOptions{Ticket: ticket, DryRun: in.DryRun, Report: r.opts,
					Progress: func(p RepairResult) { WriteRepairProgress(in.Stderr, p) }})
				if res.Phase == "" {
					return err // refused before it started
				}
				if in.JSON {
					if jerr := writeJSON(in.Stdout, res); jerr != nil {
						return jerr
					}
					return err
				}
				if werr := WriteRepair(in.Stdout, res); werr != nil {
					return werr
				}
				return err
			}
		},
	}
}

// WriteRepairProgress prints one progress line of a repair.
func WriteRepairProgress(w io.Writer, r RepairResult) {
	verb := "re-driven"
	n := r.Redriven
	if r.DryRun {
		verb, n = "would re-drive", r.WouldRedrive
	}
	fmt.Fprintf(w, "repair [%s] %s: %s, report 3 rows %d, CONTACTS messages read %d, %s %d\n",
		r.Ticket, r.Elapsed.Round(time.Second), r.Phase, r.Gaps, r.Scanned, verb, n)
}

// WriteRepair prints a repair's summary and its contacts.
func WriteRepair(w io.Writer, r RepairResult) error {
	if d := r.AlreadyDone; d != nil {
		_, err := fmt.Fprintf(w, "ticket %s already re-drove %d contacts (finished %s): nothing published; use a new --ticket to repair again\n",
			r.Ticket, d.Redriven, fmtTime(d.Finished))
		return err
	}
	var skipped []string
	for _, reason := range slices.Sorted(maps.Keys(r.Skipped)) {
		skipped = append(skipped, fmt.Sprintf("%s %d", reason, r.Skipped[reason]))
	}
	skip := "none"
	if len(skipped) > 0 {
		skip = strings.Join(skipped, ", ")
	}
	if r.DryRun {
		fmt.Fprintf(w, "dry run: repair %s would re-drive %d contacts; skipped: %s; nothing published or recorded\n", r.Ticket, r.WouldRedrive, skip)
	} else {
		fmt.Fprintf(w, "repair %s: re-drove %d contacts (duplicates %d); skipped: %s\n", r.Ticket, r.Redriven, r.Duplicates, skip)
	}
	fmt.Fprintf(w, "source: %s · report 3 rows %d · API calls %d · CONTACTS messages read %d\n", orNone(r.Source), r.Gaps, r.APICalls, r.Scanned)
	if len(r.Items) == 0 {
		_, err := fmt.Fprintln(w, "nothing to repair")
		return err
	}
	fmt.Fprintln(w)
	tw := newTab(w)
	fmt.Fprintln(tw, "PROBLEM\tEXTERNAL_ID\tSALESFORCE_ID\tEMAIL\tOUTCOME\tFROM\tVERSION\tREASON")
	for _, it := range r.Items {
		v := "-"
		if it.Version != 0 {
			v = fmt.Sprint(it.Version)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Problem, dash(it.ExternalID), dash(it.SalesforceID), dash(it.Email),
			it.Outcome, dash(it.From), v, dash(it.Reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, it := range r.Items {
		if it.Detail != "" {
			fmt.Fprintf(w, "%s: %s\n", it.ExternalID, it.Detail)
		}
	}
	return nil
}

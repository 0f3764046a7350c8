package ops

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/salesforce"
)

func traceCommand() *cli.Command {
	return &cli.Command{
		Name:    "trace",
		Summary: "everything about one contact as a timeline (--external-id X)",
		Help: `Follows one contact through the pipeline: its deltas in CONTACTS (version,
segment, partition, when stored, and what became of each), its contact state
(Salesforce Id, last applied version, tombstone), its dead letters with their
reasons, the conflict events naming it (as the incoming or the existing
contact) and, when SF_LOGIN_URL is set, the Salesforce Contact and the
Contact_Sync_Exception__c records naming it. Printed as one timeline, oldest
first; --json gives every part in full.

The external ID matches case-insensitively, as Salesforce matches it. Deltas
are found by subject (CONTACTS stores contacts.delta.<segment>.<partition>.
<key>), so only the contact's own are read; DLQ and CONFLICTS subjects carry
only the segment, so those two streams are read whole and filtered, with
progress on stderr. Names, emails and phones are masked unless --show-pii.
A contact nothing holds is an error (exit 1).`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			n := addNATSFlags(fs)
			ext := fs.String("external-id", "", "the contact's external ID (required)")
			showPII := fs.Bool("show-pii", false, "show names, emails and phones in clear")
			return func(ctx context.Context, in *cli.Invocation) error {
				if err := in.NoArgs(); err != nil {
					return err
				}
				if strings.TrimSpace(*ext) == "" {
					return cli.Usagef("--external-id is required")
				}
				var env salesforce.Env
				if err := cli.LoadEnv(&env); err != nil {
					return err
				}
				if env.LoginURL != "" {
					if err := env.Validate(); err != nil {
						return cli.AsUsage(err)
					}
				}
				ctx, s, done, err := n.connect(ctx)
				if err != nil {
					return err
				}
				defer done()
				var sf TraceSalesforce
				if env.LoginURL != "" {
					client, err := salesforce.New(ctx, env.Config())
					if err != nil {
						return err
					}
					defer client.Close()
					sf = client
				}
				tr, err := s.ops.Trace(ctx, sf, TraceConfig{ExternalID: *ext, ShowPII: *showPII,
					ExternalIDField: os.Getenv("SF_EXTERNAL_ID_FIELD"), Progress: scanProgress(in.Stderr)})
				if err != nil && tr.SalesforceError == "" {
					return n.unavailable(ctx, err)
				}
				// A failing org still shows the NATS half (exit 1 all the same).
				if in.JSON {
					if jerr := writeJSON(in.Stdout, tr); jerr != nil {
						return jerr
					}
					return err
				}
				WriteTrace(in.Stdout, tr)
				return err
			}
		},
	}
}

// scanProgress prints how far a whole-stream scan is, at most once a second
// and once at the end, on stderr (stdout stays the result).
func scanProgress(w io.Writer) func(stream string, read, total uint64) {
	var last time.Time
	return func(stream string, read, total uint64) {
		if read == total || time.Since(last) >= time.Second {
			last = time.Now()
			fmt.Fprintf(w, "trace: %s: read %d/%d messages (its subjects carry the segment, not the contact: filtered scan)\n", stream, read, total)
		}
	}
}

// WriteTrace prints a trace for people: the state, then the timeline.
func WriteTrace(w io.Writer, tr Trace) {
	fmt.Fprintf(w, "contact %s (key %s, partition %d)\n", tr.ExternalID, tr.Key, tr.Partition)
	if st := tr.State; st != nil {
		tomb := ""
		if st.Deleted {
			tomb = ", tombstone: deleted at that version"
		}
		fmt.Fprintf(w, "  state        Salesforce Id %s, last applied version %d%s (written %s)\n", dash(st.SalesforceID), st.Version, tomb, fmtTime(st.Written))
	} else {
		fmt.Fprintln(w, "  state        none (never applied, or erased)")
	}
	fmt.Fprintf(w, "  deltas       %d in CONTACTS\n", len(tr.Deltas))
	fmt.Fprintf(w, "  dead letters %d (DLQ scanned: %d messages)\n", len(tr.DeadLetters), tr.Scanned["DLQ"])
	fmt.Fprintf(w, "  conflicts    %d (CONFLICTS scanned: %d messages)\n", len(tr.Conflicts), tr.Scanned["CONFLICTS"])
	switch {
	case tr.SalesforceError != "":
		fmt.Fprintf(w, "  salesforce   not read: %s\n", tr.SalesforceError)
	case tr.Salesforce == nil:
		fmt.Fprintln(w, "  salesforce   not asked (set SF_LOGIN_URL and the SF_* credentials)")
	default:
		fmt.Fprintf(w, "  salesforce   %d Contact, %d Contact_Sync_Exception__c\n", len(tr.Salesforce.Contacts), len(tr.Salesforce.Exceptions))
	}
	if len(tr.Deltas) > 0 {
		fmt.Fprintln(w, "\nLatest delta fields (masked unless --show-pii)")
		d := tr.Deltas[len(tr.Deltas)-1]
		keys := make([]string, 0, len(d.Fields))
		for k := range d.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %-24s %s\n", k, truncate(fmt.Sprint(d.Fields[k]), 80))
		}
	}
	fmt.Fprintln(w, "\nTimeline")
	tw := newTab(w)
	fmt.Fprintln(tw, "TIME\tSOURCE\tSEQ\tVERSION\tWHAT")
	for _, e := range tr.Timeline {
		seq, ver := "-", "-"
		if e.Seq > 0 {
			seq = fmt.Sprint(e.Seq)
		}
		if e.Version != 0 {
			ver = fmt.Sprint(e.Version)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", fmtTime(e.Time), e.Source, seq, ver, truncate(e.What, 160))
	}
	tw.Flush()
}

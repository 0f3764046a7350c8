package ops

import (
	"context"
	"flag"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/salesforce"
)

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:    "report",
		Summary: "counts by segment, error code, conflict kind; exception records and API usage",
		Help: `Summary counts: deltas held in CONTACTS by segment, dead letters by segment
and error code, conflict events by kind (CONFLICTS). When SF_LOGIN_URL is
set, also Contact_Sync_Exception__c records by Kind__c and Status__c (one
GROUP BY query) and the org's daily API usage (/limits); the Salesforce
credentials come from the usual SF_* variables.

--daily runs the four daily reconciliation reports instead (SF_LOGIN_URL and
the SF_* credentials required):
  1 contacts that share an email but have different external IDs
  2 upsert failures that need a person: dead letters, and exception
    records New, Resolved (not applied yet) or Apply_Failed
  3 the source against Salesforce: external IDs missing from Salesforce,
    IDs in Salesforce unknown to the source, and drift (contacts whose
    fields differ from what the fleet last wrote: edited by hand)
  4 contacts updated in the last 24 hours
The source of report 3 is --source: a postgres://… URL (with --mapping, the
producer poll mapping), an NDJSON or CSV export as producer publish reads
(--mapping: its CSV mapping), or, without it, what the fleet applied
(contact_state). External IDs are compared ignoring case, as Salesforce
matches External_Contact_ID__c (--case-sensitive-ids for a field marked
case-sensitive). The org's contacts are read once: a Bulk API 2.0 query job
from --bulk-threshold contacts, paged SOQL (2,000 a page) below; the calls
each read cost are printed.
With --out DIR each run writes DIR/<time>/ with one CSV per report
(1-duplicate-emails.csv, 2-failures.csv, 3-source-gaps.csv,
4-updated-24h.csv), summary.json and report.html (one self-contained page:
the four sections, totals, charts, and the trend over the runs in DIR).
Emails are masked unless --show-pii.
Exit status: 0 every report empty, 3 some report has rows, 1 failure,
2 usage.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			n := addNATSFlags(fs)
			d := addDailyFlags(fs)
			return func(ctx context.Context, in *cli.Invocation) error {
				if err := in.NoArgs(); err != nil {
					return err
				}
				if d.daily {
					return runDaily(ctx, n, d, in)
				}
				if err := d.onlyDaily(in); err != nil {
					return err
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
				var sf Salesforce
				if env.LoginURL != "" {
					client, err := salesforce.New(ctx, env.Config())
					if err != nil {
						return err
					}
					sf = client
				}
				rep, err := s.ops.Report(ctx, sf)
				if err != nil && rep.SalesforceError == "" {
					return err
				}
				// A failing org still shows the NATS half (exit 1 all the same).
				if in.JSON {
					if jerr := writeJSON(in.Stdout, rep); jerr != nil {
						return jerr
					}
					return err
				}
				if werr := WriteReport(in.Stdout, rep); werr != nil {
					return werr
				}
				return err
			}
		},
	}
}

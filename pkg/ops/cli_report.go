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
credentials come from the usual SF_* variables.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			n := addNATSFlags(fs)
			return func(ctx context.Context, in *cli.Invocation) error {
				if err := in.NoArgs(); err != nil {
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

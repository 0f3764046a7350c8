package ops

import (
	"context"
	"flag"
	"os"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/salesforce"
)

func eraseCommand() *cli.Command {
	return &cli.Command{
		Name:    "erase",
		Summary: "right to erasure: delete one contact in Salesforce and everywhere in the pipeline",
		Writes:  true,
		Help: `Deletes the Contact with --external-id in Salesforce, and the
Contact_Sync_Exception__c records naming it; removes its deltas from
CONTACTS, its dead letters (DLQ) and conflict events (CONFLICTS), and its
contact state; prints what it removed. --dry-run only shows it. The org
comes from SF_LOGIN_URL and the SF_* credentials. Rows still in the source
are the source's business: delete them there, or a later poll brings the
contact back.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			n := addNATSFlags(fs)
			ext := fs.String("external-id", "", "the contact's external ID (required)")
			ticket := fs.String("ticket", "", "the erasure request's ticket, for the record (required)")
			return func(ctx context.Context, in *cli.Invocation) error {
				if err := in.NoArgs(); err != nil {
					return err
				}
				var env salesforce.Env
				if err := cli.LoadEnv(&env); err != nil {
					return err
				}
				if env.LoginURL == "" {
					return cli.Usagef("erase deletes in Salesforce: set SF_LOGIN_URL and the SF_* credentials")
				}
				if err := env.Validate(); err != nil {
					return cli.AsUsage(err)
				}
				ctx, s, done, err := n.connect(ctx)
				if err != nil {
					return err
				}
				defer done()
				client, err := salesforce.New(ctx, env.Config())
				if err != nil {
					return err
				}
				defer client.Close()
				res, err := s.ops.Erase(ctx, client, EraseConfig{ExternalID: *ext, Ticket: *ticket, DryRun: in.DryRun,
					ExternalIDField: os.Getenv("SF_EXTERNAL_ID_FIELD")})
				if err != nil {
					return err
				}
				if in.JSON {
					return writeJSON(in.Stdout, res)
				}
				WriteErase(in.Stdout, res)
				return nil
			}
		},
	}
}

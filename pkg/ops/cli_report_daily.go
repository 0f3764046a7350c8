package ops

import (
	"context"
	"flag"
	"os"
	"strconv"
	"strings"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/report"
	"github.com/contactsync/contactsync/pkg/salesforce"
)

type dailyFlags struct {
	daily, showPII, caseSensitive bool
	out, source, mapping          string
	threshold                     int
}

func addDailyFlags(fs *flag.FlagSet) *dailyFlags {
	d := &dailyFlags{}
	def := report.DefaultBulkThreshold
	if v, err := strconv.Atoi(os.Getenv("SYNC_BULK_THRESHOLD")); err == nil {
		def = v
	}
	fs.BoolVar(&d.daily, "daily", false, "the four daily reconciliation reports (see above)")
	fs.StringVar(&d.out, "out", "", "--daily: write the CSV files, summary.json and report.html under DIR/<time>/")
	fs.StringVar(&d.source, "source", "", "--daily: report 3's source, postgres://… or an NDJSON/CSV export (default: the fleet's contact state)")
	fs.StringVar(&d.mapping, "mapping", "", "--daily: mapping of --source (producer poll mapping for postgres, CSV mapping for a .csv file)")
	fs.BoolVar(&d.showPII, "show-pii", false, "--daily: emails in clear in the output and files")
	fs.BoolVar(&d.caseSensitive, "case-sensitive-ids", false, "--daily: compare external IDs exactly (only if the field is marked case-sensitive)")
	fs.IntVar(&d.threshold, "bulk-threshold", def, "--daily: read the contacts with a Bulk query job from this many; 0 = never (env SYNC_BULK_THRESHOLD)")
	return d
}

// onlyDaily refuses --daily's flags without it.
func (d *dailyFlags) onlyDaily(in *cli.Invocation) error {
	for _, f := range []string{"out", "source", "mapping", "show-pii", "case-sensitive-ids", "bulk-threshold"} {
		if in.Set(f) {
			return cli.Usagef("--%s: only with --daily", f)
		}
	}
	return nil
}

func runDaily(ctx context.Context, n *natsFlags, d *dailyFlags, in *cli.Invocation) error {
	var env salesforce.Env
	if err := cli.LoadEnv(&env); err != nil {
		return err
	}
	if env.LoginURL == "" {
		return cli.Usagef("--daily: SF_LOGIN_URL is required (and the SF_* credentials)")
	}
	if err := env.Validate(); err != nil {
		return cli.AsUsage(err)
	}
	if d.threshold < 0 {
		return cli.Usagef("--bulk-threshold %d: want 0 (never) or more", d.threshold)
	}
	var src *report.Source
	switch {
	case d.source == "":
		if d.mapping != "" {
			return cli.Usagef("--mapping: only with --source")
		}
	case strings.HasPrefix(d.source, "postgres://") || strings.HasPrefix(d.source, "postgresql://"):
		s, err := report.LoadPostgres(ctx, d.source, d.mapping)
		if err != nil {
			return err
		}
		src = s
	default:
		if _, err := os.Stat(d.source); err != nil {
			return cli.Usagef("--source %s: %v", d.source, err)
		}
		s, err := report.LoadFile(d.source, d.mapping)
		if err != nil {
			return err
		}
		src = s
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
	cfg := report.Config{CaseSensitiveIDs: d.caseSensitive, BulkThreshold: d.threshold}
	if d.threshold == 0 {
		cfg.BulkThreshold = -1
	}
	if f := os.Getenv("SF_EXTERNAL_ID_FIELD"); f != "" {
		cfg.ExternalIDField = f
	}
	res, err := s.ops.DailyReport(ctx, DailyOptions{Org: client, Source: src, Config: cfg, ShowPII: d.showPII})
	if err != nil {
		return err
	}
	sum := res.Summarize()
	if d.out != "" {
		if sum, err = report.Write(d.out, res); err != nil {
			return err
		}
	}
	if in.JSON {
		err = writeJSON(in.Stdout, sum)
	} else {
		err = WriteDailySummary(in.Stdout, sum)
	}
	if err != nil {
		return err
	}
	if res.NonEmpty() {
		return ErrReportsNotEmpty
	}
	return nil
}

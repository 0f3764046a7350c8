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
	daily bool
	out   string
	gapFlags
}

// gapFlags are the inputs of report 3 (the source against Salesforce),
// shared by report --daily and reconcile --repair.
type gapFlags struct {
	showPII, caseSensitive bool
	source, mapping        string
	threshold              int
}

func addDailyFlags(fs *flag.FlagSet) *dailyFlags {
	d := &dailyFlags{}
	fs.BoolVar(&d.daily, "daily", false, "the four daily reconciliation reports (see above)")
	fs.StringVar(&d.out, "out", "", "--daily: write the CSV files, summary.json and report.html under DIR/<time>/")
	d.gapFlags.add(fs, "--daily: ")
	return d
}

// add defines the flags, each usage line starting with prefix.
func (g *gapFlags) add(fs *flag.FlagSet, prefix string) {
	def := report.DefaultBulkThreshold
	if v, err := strconv.Atoi(os.Getenv("SYNC_BULK_THRESHOLD")); err == nil {
		def = v
	}
	fs.StringVar(&g.source, "source", "", prefix+"report 3's source, postgres://… or an NDJSON/CSV export (default: the fleet's contact state)")
	fs.StringVar(&g.mapping, "mapping", "", prefix+"mapping of --source (producer poll mapping for postgres, CSV mapping for a .csv file)")
	fs.BoolVar(&g.showPII, "show-pii", false, prefix+"emails in clear in the output and files")
	fs.BoolVar(&g.caseSensitive, "case-sensitive-ids", false, prefix+"compare external IDs exactly (only if the field is marked case-sensitive)")
	fs.IntVar(&g.threshold, "bulk-threshold", def, prefix+"read the contacts with a Bulk query job from this many; 0 = never (env SYNC_BULK_THRESHOLD)")
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

// gapRun is what a command computing report 3 has open: the JetStream
// session, the org, and the options of Ops.DailyReport.
type gapRun struct {
	ctx  context.Context
	s    *session
	org  *salesforce.Client
	opts DailyOptions
	done func()
}

// open checks the settings and flags, loads --source (with each ID's
// newest delta when deltas, for a file), connects to JetStream and the
// org. what names the command in messages ("--daily").
func (g *gapFlags) open(ctx context.Context, n *natsFlags, what string, deltas bool) (*gapRun, error) {
	var env salesforce.Env
	if err := cli.LoadEnv(&env); err != nil {
		return nil, err
	}
	if env.LoginURL == "" {
		return nil, cli.Usagef("%s: SF_LOGIN_URL is required (and the SF_* credentials)", what)
	}
	if err := env.Validate(); err != nil {
		return nil, cli.AsUsage(err)
	}
	if g.threshold < 0 {
		return nil, cli.Usagef("--bulk-threshold %d: want 0 (never) or more", g.threshold)
	}
	var src *report.Source
	switch {
	case g.source == "":
		if g.mapping != "" {
			return nil, cli.Usagef("--mapping: only with --source")
		}
	case strings.HasPrefix(g.source, "postgres://") || strings.HasPrefix(g.source, "postgresql://"):
		s, err := report.LoadPostgres(ctx, g.source, g.mapping)
		if err != nil {
			return nil, err
		}
		src = s
	default:
		if _, err := os.Stat(g.source); err != nil {
			return nil, cli.Usagef("--source %s: %v", g.source, err)
		}
		load := report.LoadFile
		if deltas {
			load = report.LoadFileDeltas
		}
		s, err := load(g.source, g.mapping)
		if err != nil {
			return nil, err
		}
		src = s
	}
	ctx, s, done, err := n.connect(ctx)
	if err != nil {
		return nil, err
	}
	client, err := salesforce.New(ctx, env.Config())
	if err != nil {
		done()
		return nil, err
	}
	cfg := report.Config{CaseSensitiveIDs: g.caseSensitive, BulkThreshold: g.threshold}
	if g.threshold == 0 {
		cfg.BulkThreshold = -1
	}
	if f := os.Getenv("SF_EXTERNAL_ID_FIELD"); f != "" {
		cfg.ExternalIDField = f
	}
	return &gapRun{ctx: ctx, s: s, org: client, done: func() { client.Close(); done() },
		opts: DailyOptions{Org: client, Source: src, Config: cfg, ShowPII: g.showPII}}, nil
}

func runDaily(ctx context.Context, n *natsFlags, d *dailyFlags, in *cli.Invocation) error {
	r, err := d.open(ctx, n, "--daily", false)
	if err != nil {
		return err
	}
	defer r.done()
	res, err := r.s.ops.DailyReport(r.ctx, r.opts)
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

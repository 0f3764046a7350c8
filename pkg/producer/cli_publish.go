package producer

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/telemetry"
)

const publishHelp = `Publish NDJSON deltas (one JSON delta per line) or CSV files (by the .csv
extension, mapped to deltas by --mapping, a JSON or YAML file; default
columns external_id, segment, version or updated_at, first_name, last_name,
email, phone, title). Bad lines are reported on stderr with their line number
and reason (emails masked unless --show-pii) and never stop the import. An
empty file publishes nothing and is not an error, whatever its format.
Prints one line per file and a total (read, rejected, published, duplicates,
failed), and exits 1 if a record was rejected (unless --allow-rejects) or
not stored.`

// fileFlags are the flags publish and validate share.
type fileFlags struct {
	mapping string
	showPII bool
}

func addFileFlags(fs *flag.FlagSet) *fileFlags {
	f := &fileFlags{}
	fs.StringVar(&f.mapping, "mapping", "", "CSV column mapping (JSON or YAML)")
	fs.BoolVar(&f.showPII, "show-pii", false, "print rejected values (emails, names) in clear")
	return f
}

func (f *fileFlags) load(files []string, cmd string) (Mapping, error) {
	if len(files) == 0 {
		return Mapping{}, cli.Usagef("%s needs at least one FILE", cmd)
	}
	if f.mapping == "" {
		return DefaultMapping(), nil
	}
	m, err := LoadMapping(f.mapping)
	if err != nil {
		return Mapping{}, cli.Usagef("--mapping %s: %v", f.mapping, err)
	}
	return m, nil
}

// reason is a rejection reason as printed: emails masked (unless
// showPII) and long values cut, so a 200 KB name never reaches a terminal
// or a log whole.
func reason(err error, showPII bool) string {
	s := err.Error()
	if showPII {
		return s
	}
	s = telemetry.MaskEmails(s)
	if len(s) > 300 {
		s = s[:300] + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return s
}

// openSource opens file as a Source: CSV by the .csv extension, NDJSON
// otherwise. An empty file is an empty source in both formats.
func openSource(file string, mapping Mapping, stderr io.Writer) (Source, func(), error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		fmt.Fprintf(stderr, "%s: empty file, nothing to read\n", file)
		return Records(nil), func() { f.Close() }, nil
	}
	if !strings.EqualFold(filepath.Ext(file), ".csv") {
		return NDJSON(f), func() { f.Close() }, nil
	}
	cs, err := CSV(f, mapping)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if ign := cs.Ignored(); len(ign) > 0 {
		fmt.Fprintf(stderr, "%s: ignoring unmapped columns: %s\n", file, strings.Join(ign, ", "))
	}
	return cs, func() { f.Close() }, nil
}

func publishCommand() *cli.Command {
	return &cli.Command{
		Name:    "publish",
		Args:    "FILE...",
		Summary: "publish NDJSON or CSV files of deltas",
		Help:    publishHelp,
		Writes:  true,
		Setup: func(fs *flag.FlagSet) cli.Action {
			ff := addFileFlags(fs)
			allowRejects := fs.Bool("allow-rejects", false, "exit 0 even if records were rejected")
			every := fs.Int("progress-every", 10000, "print a progress line every N records")
			return func(ctx context.Context, in *cli.Invocation) error {
				mapping, err := ff.load(in.Args, "publish")
				if err != nil {
					return err
				}
				if in.DryRun {
					// Nothing is published: the verdicts of validate.
					return validateFiles(in, in.Args, mapping, ff.showPII, *allowRejects)
				}
				var env Env
				if err := cli.LoadEnv(&env); err != nil {
					return err
				}
				log, err := telemetry.NewLoggerTo(env.LogLevel, in.Stderr)
				if err != nil {
					return cli.AsUsage(err)
				}
				defer func() { _ = log.Sync() }()
				return runPublish(ctx, env, in, log, mapping, ff.showPII, *allowRejects, *every)
			}
		},
	}
}

func runPublish(ctx context.Context, env Env, in *cli.Invocation, log *zap.Logger, mapping Mapping, showPII, allowRejects bool, every int) error {
	progress := printWaits(in.Stderr)
	nc, js, err := connect(ctx, env, progress, log)
	if err != nil {
		return err
	}
	defer drain(nc)

	var total Summary
	var files []fileSummary
	start := time.Now()
	for _, file := range in.Args {
		src, closeSrc, err := openSource(file, mapping, in.Stderr)
		if err != nil {
			printSummary(in.Stdout, files, total, time.Since(start), in.JSON)
			return fmt.Errorf("%s: %w", file, err)
		}
		sum, err := publishFile(ctx, js, file, src, every, in.Stderr, progress, env.wait(), showPII)
		closeSrc()
		total.Add(sum)
		files = append(files, fileSummary{File: file, Summary: sum})
		if !in.JSON {
			fmt.Fprintf(in.Stderr, "%s: read %d  rejected %d  published %d  duplicates %d  failed %d\n",
				file, sum.Read, sum.Rejected, sum.Published, sum.Duplicates, sum.Failed)
		}
		if err != nil {
			printSummary(in.Stdout, files, total, time.Since(start), in.JSON)
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	printSummary(in.Stdout, files, total, time.Since(start), in.JSON)
	return verdict(total, allowRejects)
}

func verdict(total Summary, allowRejects bool) error {
	switch {
	case total.Failed > 0:
		return fmt.Errorf("%d deltas were not confirmed by JetStream; re-run the same files (duplicates are skipped)", total.Failed)
	case total.Rejected > 0 && total.Rejected == total.Read:
		return fmt.Errorf("%w: all %d records (see the reasons above; is this the right file and --mapping?)", ErrRejected, total.Read)
	case total.Rejected > 0 && !allowRejects:
		return fmt.Errorf("%w: %d of %d (see the reasons above; --allow-rejects to accept)", ErrRejected, total.Rejected, total.Read)
	}
	return nil
}

// fileSummary is one file's line of the summary.
type fileSummary struct {
	File string `json:"file"`
	Summary
}

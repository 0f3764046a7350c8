package producer

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/contactsync/contactsync/pkg/cli"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:    "validate",
		Args:    "FILE...",
		Summary: "check files as publish would, without NATS",
		Help: `Reads each FILE exactly as publish does (NDJSON, or CSV through --mapping)
and prints the same per-line verdicts on stderr, without connecting to NATS
or publishing anything. The summary counts read, valid and rejected records.
Exits 1 if a record was rejected (unless --allow-rejects), 0 otherwise.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			ff := addFileFlags(fs)
			allowRejects := fs.Bool("allow-rejects", false, "exit 0 even if records were rejected")
			return func(_ context.Context, in *cli.Invocation) error {
				mapping, err := ff.load(in.Args, "validate")
				if err != nil {
					return err
				}
				return validateFiles(in, in.Args, mapping, ff.showPII, *allowRejects)
			}
		},
	}
}

// ValidateSummary is validate's result (and publish --dry-run's).
type ValidateSummary struct {
	File     string `json:"file,omitempty"`
	Read     int64  `json:"read"`
	Valid    int64  `json:"valid"`
	Rejected int64  `json:"rejected"`
}

func validateFiles(in *cli.Invocation, files []string, mapping Mapping, showPII, allowRejects bool) error {
	var total ValidateSummary
	per := []ValidateSummary{}
	for _, file := range files {
		src, closeSrc, err := openSource(file, mapping, in.Stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		s := ValidateSummary{File: file}
		for {
			rec, ok := src.Next()
			if !ok {
				break
			}
			s.Read++
			err := rec.Err
			if err == nil {
				err = rec.Delta.Validate()
			}
			if err == nil {
				_, err = Message(rec.Delta)
			}
			if err != nil {
				s.Rejected++
				fmt.Fprintf(in.Stderr, "%s:%d: rejected: %s\n", file, rec.N, reason(err, showPII))
				continue
			}
			s.Valid++
		}
		err = src.Err()
		closeSrc()
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		per = append(per, s)
		total.Read, total.Valid, total.Rejected = total.Read+s.Read, total.Valid+s.Valid, total.Rejected+s.Rejected
		if !in.JSON {
			fmt.Fprintf(in.Stderr, "%s: read %d  valid %d  rejected %d\n", file, s.Read, s.Valid, s.Rejected)
		}
	}
	if in.JSON {
		_ = json.NewEncoder(in.Stdout).Encode(struct {
			ValidateSummary
			Files []ValidateSummary `json:"files"`
		}{total, per})
	} else {
		fmt.Fprintf(in.Stdout, "read %d  valid %d  rejected %d  (nothing published)\n", total.Read, total.Valid, total.Rejected)
	}
	return verdict(Summary{Read: total.Read, Rejected: total.Rejected}, allowRejects)
}

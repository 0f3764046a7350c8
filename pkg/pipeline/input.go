package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/producer"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/synth"
	"github.com/contactsync/contactsync/pkg/telemetry"
)

// openInput returns the run's source: the input file (NDJSON, or CSV by
// extension), or generated contacts. Generated data also seeds an embedded
// emulator with contacts that collide with incoming emails, so the conflict
// policies have work to do; against a real org nothing is seeded.
func openInput(cfg Config, sim *sfsim.Server) (producer.Source, error) {
	if cfg.Input == "" {
		set := synth.Generate(cfg.Synth)
		if sim != nil {
			for _, e := range set.Existing {
				if _, err := sim.Insert("Contact", e.Fields); err != nil {
					return nil, fmt.Errorf("seed emulator: %w", err)
				}
			}
		}
		var b bytes.Buffer
		for _, r := range set.Rows {
			b.Write(r.Data)
			b.WriteByte('\n')
		}
		return producer.NDJSON(&b), nil
	}
	data, err := os.ReadFile(cfg.Input)
	if err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	if strings.HasSuffix(strings.ToLower(cfg.Input), ".csv") {
		m := producer.DefaultMapping()
		if cfg.Mapping != "" {
			if m, err = producer.LoadMapping(cfg.Mapping); err != nil {
				return nil, fmt.Errorf("--mapping: %w", err)
			}
		}
		src, err := producer.CSV(bytes.NewReader(data), m)
		if err != nil {
			return nil, fmt.Errorf("--input %s: %w", cfg.Input, err)
		}
		return src, nil
	}
	return producer.NDJSON(bytes.NewReader(data)), nil
}

// publish pumps src into CONTACTS, logging each rejected record's reason.
func publish(ctx context.Context, js jetstream.JetStream, src producer.Source, progress io.Writer, log *zap.Logger) (producer.Summary, error) {
	sum, err := producer.Import(ctx, src, producer.NewPublisher(js), producer.ImportConfig{
		Source: "standalone",
		OnReject: func(r producer.Record) {
			log.Warn("rejected input record", zap.Int("record", r.N), zap.String("reason", telemetry.MaskEmails(r.Err.Error())))
		},
		ProgressEvery: 10000,
		Progress: func(s producer.Summary) {
			if progress != nil {
				fmt.Fprintf(progress, "progress: read %d records, %d rejected\n", s.Read, s.Rejected)
			}
		},
	})
	if err != nil {
		return sum, err
	}
	if sum.Failed > 0 {
		return sum, fmt.Errorf("JetStream did not confirm %d deltas (re-running is safe)", sum.Failed)
	}
	return sum, nil
}

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/pgsource"
	"github.com/contactsync/contactsync/pkg/producer"
)

// IsPostgres reports whether a --source names a PostgreSQL database.
func IsPostgres(source string) bool {
	return strings.HasPrefix(source, "postgres://") || strings.HasPrefix(source, "postgresql://")
}

// pollOnce reads the PostgreSQL source of cfg (Source, Mapping) once until
// caught up, as `producer poll --once` does, and returns what it published.
func pollOnce(ctx context.Context, js jetstream.JetStream, cfg Config, progress io.Writer, log *zap.Logger) (producer.Summary, error) {
	if cfg.Mapping == "" {
		return producer.Summary{}, errors.New("--source postgres://… needs --mapping: the table or query and its column mapping")
	}
	m, err := pgsource.LoadMapping(cfg.Mapping)
	if err != nil {
		return producer.Summary{}, fmt.Errorf("--mapping: %w", err)
	}
	kv, err := js.KeyValue(ctx, bus.BucketWatermarks)
	if err != nil {
		return producer.Summary{}, err
	}
	p, err := pgsource.New(ctx, pgsource.Config{Mapping: m, DSN: cfg.Source, Logger: log.Named("poll"),
		Progress: func(pr pgsource.Progress) {
			if progress != nil {
				fmt.Fprintf(progress, "progress: %d of %d rows, %.0f rows/s\n", pr.Rows, pr.Total, pr.Rate)
			}
		}}, kv, producer.NewPollSink(js))
	if err != nil {
		return producer.Summary{}, fmt.Errorf("--source: %w", err)
	}
	defer p.Close()
	err = p.Poll(ctx)
	st := p.Stats()
	sum := producer.Summary{Read: st.Read - st.Unchanged, Rejected: st.Rejected, Published: st.Published, Duplicates: st.Duplicates, Failed: st.Failed}
	if err != nil {
		return sum, err
	}
	return sum, nil
}

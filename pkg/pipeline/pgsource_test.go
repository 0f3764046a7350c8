package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/pgsource/pgtest"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

// standalone --source postgres://…: a table read once by watermark, its
// soft-deleted row a delete, every delta accounted for.
func TestRunFromPostgres(t *testing.T) {
	db := pgtest.New(t)
	db.Exec(t, `CREATE TABLE contacts (external_id text, last_name text, email text, deleted boolean NOT NULL DEFAULT false, updated_at timestamptz)`)
	db.Exec(t, `INSERT INTO contacts SELECT 'PG_' || i, 'Last ' || i, 'pg' || i || '@example.com', i = 20,
		'2026-11-26 10:00:00+00'::timestamptz + i * interval '1 second' FROM generate_series(1, 20) i`)
	mapping := filepath.Join(t.TempDir(), "poll.yaml")
	if err := os.WriteFile(mapping, []byte("table: contacts\nkey: external_id\ndefault_segment: emea\ndeleted: deleted\nfields: {last_name: LastName, email: Email}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := pipeline.Run(context.Background(), pipeline.Config{Upserters: 2, Source: db.DSN, Mapping: mapping,
		Upsert: fastUpsert(), Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Gaps) > 0 || sum.Read != 20 || sum.Published != 20 || sum.Created != 19 || sum.Deleted != 1 {
		t.Fatalf("summary %+v", sum)
	}
}

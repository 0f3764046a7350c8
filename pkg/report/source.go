package report

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/pgsource"
	"github.com/contactsync/contactsync/pkg/producer"
	"github.com/contactsync/contactsync/pkg/telemetry"
)

// Source is the source system's external IDs for report 3.
type Source struct {
	Name     string            // what was read, for the page ("file contacts.csv")
	IDs      map[string]string // by the ID as given (report.Run folds case)
	Rejected int               // rows that are no valid delta, left out
	// Deltas is each ID's newest delta (by the ID as in IDs), kept only by
	// LoadFileDeltas; nil when the source gives IDs only (PostgreSQL,
	// LoadFile).
	Deltas map[string]delta.Delta
}

// LoadFile reads a source export the way `producer publish` does: NDJSON
// deltas, or CSV by the .csv extension with mapping (a producer CSV mapping
// file, optional). The last delta of an ID decides: a delete removes it.
func LoadFile(path, mapping string) (*Source, error) {
	return loadFile(path, mapping, false)
}

// LoadFileDeltas is LoadFile keeping each ID's newest delta in
// Source.Deltas, the rows `syncctl reconcile --repair` publishes for
// contacts the fleet never applied.
func LoadFileDeltas(path, mapping string) (*Source, error) {
	return loadFile(path, mapping, true)
}

func loadFile(path, mapping string, keep bool) (*Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--source %s: %w", path, err)
	}
	defer f.Close()
	var src producer.Source
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		var m producer.Mapping
		if mapping != "" {
			if m, err = producer.LoadMapping(mapping); err != nil {
				return nil, fmt.Errorf("--mapping %s: %w", mapping, err)
			}
		}
		cs, err := producer.CSV(f, m)
		if err != nil {
			return nil, fmt.Errorf("--source %s: %w", path, err)
		}
		src = cs
	} else {
		src = producer.NDJSON(f)
	}
	s := &Source{Name: "file " + filepath.Base(path), IDs: map[string]string{}}
	newest := map[string]int64{}
	deltas := map[string]delta.Delta{}
	for {
		rec, ok := src.Next()
		if !ok {
			break
		}
		if rec.Err != nil {
			s.Rejected++
			continue
		}
		d := rec.Delta
		k := delta.ContactKey(d.ExternalID)
		if v, seen := newest[k]; seen && v > d.Version {
			continue
		}
		newest[k] = d.Version
		if d.Op == delta.OpDelete {
			delete(s.IDs, k)
			delete(deltas, k)
		} else {
			s.IDs[k] = d.ExternalID
			if keep {
				deltas[k] = d
			}
		}
	}
	if err := src.Err(); err != nil {
		return nil, fmt.Errorf("--source %s: %w", path, err)
	}
	ids := make(map[string]string, len(s.IDs))
	for _, v := range s.IDs {
		ids[v] = v
	}
	s.IDs = ids
	if keep {
		s.Deltas = make(map[string]delta.Delta, len(deltas))
		for _, d := range deltas {
			s.Deltas[d.ExternalID] = d
		}
	}
	return s, nil
}

// LoadPostgres reads the key column of the table (or query) a
// `producer poll` mapping names, leaving out soft-deleted rows. The DSN
// never appears in an error.
func LoadPostgres(ctx context.Context, dsn, mappingPath string) (*Source, error) {
	if mappingPath == "" {
		return nil, errors.New("--source postgres://…: --mapping (the producer poll mapping: table and key) is required")
	}
	m, err := pgsource.LoadMapping(mappingPath)
	if err != nil {
		return nil, fmt.Errorf("--mapping %s: %w", mappingPath, err)
	}
	if m.Key == "" || m.Table == "" && m.Query == "" {
		return nil, fmt.Errorf("--mapping %s: want key and table (or query)", mappingPath)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("--source postgres://…: connect: %s", telemetry.MaskEmails(redactDSN(err.Error(), dsn)))
	}
	defer conn.Close(ctx)
	from := ""
	var args []any
	if m.Table != "" {
		from = pgx.Identifier(strings.Split(m.Table, ".")).Sanitize()
	} else {
		// A custom query may use $1, the page's lower bound: read from the start.
		from = "(" + m.Query + ") q"
		if m.Sequence != "" {
			args = append(args, int64(-1<<62))
		} else {
			args = append(args, "-infinity")
		}
	}
	key := pgx.Identifier{m.Key}.Sanitize()
	q := "SELECT " + key + "::text FROM " + from + " WHERE " + key + " IS NOT NULL"
	if m.Deleted != "" {
		d := pgx.Identifier{m.Deleted}.Sanitize()
		q += " AND (" + d + " IS NULL OR " + d + "::text = 'false')"
	}
	if m.Query != "" && !strings.Contains(m.Query, "$1") {
		args = nil
	}
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("--source postgres://… (mapping %s): %w", mappingPath, err)
	}
	defer rows.Close()
	name := m.Table
	if name == "" {
		name = m.Name
	}
	s := &Source{Name: "postgres " + name, IDs: map[string]string{}}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("--source postgres://…: %w", err)
		}
		s.IDs[id] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("--source postgres://…: %w", err)
	}
	return s, nil
}

func redactDSN(msg, dsn string) string {
	if dsn != "" {
		msg = strings.ReplaceAll(msg, dsn, "postgres://…")
	}
	return msg
}

func maskText(s string) string {
	s = telemetry.MaskEmails(s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

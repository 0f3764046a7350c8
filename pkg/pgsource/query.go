package pgsource

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// plan is a mapping resolved against the database: the columns found, their
// types, and the SQL of each query the poller runs.
type plan struct {
	m       Mapping
	seq     bool   // ordered by a sequence column, not a timestamp
	keyInt  bool   // the key column is an integer: keyset parameters are sent as int64
	from    string // "tbl AS src" or "(query) AS src"
	segment int    // column index of the segment, -1 = none
	deleted int    // column index of the soft-delete flag, -1 = none
	fields  []fieldCol
	oids    []uint32 // type of each selected column

	sel   []string // the select list; sel[colKey], sel[colOrder]
	count string   // rows from $1 [to $2]: the initial load's total
	check string   // rows keyset paging cannot reach
}

// page says which rows one page query reads. $1 is always the lower bound
// of the ordering column, so a custom query may use it.
type page struct {
	from     int64     // order >= from (when after is nil)
	after    *Position // (order, key) > after
	upTo     *Position // (order, key) <= upTo, nil = no bound
	maxOrder *int64    // order <= maxOrder (time mode: the database clock)
	limit    int
}

// query returns the SQL and arguments of a page.
func (p *plan) query(pg page) (string, []any) {
	k, o := p.sel[colKey], p.sel[colOrder]
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(strings.Join(p.sel, ", "))
	b.WriteString(" FROM ")
	b.WriteString(p.from)
	b.WriteString(" WHERE ")
	b.WriteString(k)
	b.WriteString(" IS NOT NULL")
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if pg.after != nil {
		fmt.Fprintf(&b, " AND (%s, %s) > (%s, %s)", o, k, arg(p.lowArg(pg.after.Order)), arg(p.keyArg(pg.after.Key)))
	} else {
		fmt.Fprintf(&b, " AND %s >= %s", o, arg(p.lowArg(pg.from)))
	}
	if pg.upTo != nil {
		fmt.Fprintf(&b, " AND (%s, %s) <= (%s, %s)", o, k, arg(p.lowArg(pg.upTo.Order)), arg(p.keyArg(pg.upTo.Key)))
	}
	if pg.maxOrder != nil {
		fmt.Fprintf(&b, " AND %s <= %s", o, arg(p.lowArg(*pg.maxOrder)))
	}
	fmt.Fprintf(&b, " ORDER BY %s, %s LIMIT %d", o, k, pg.limit)
	return b.String(), args
}

// fieldCol is a mapped column: index in the select list, Salesforce name.
type fieldCol struct {
	idx  int
	col  string
	name string
}

// Column indexes fixed by the select list.
const (
	colKey   = 0
	colOrder = 1
)

var (
	timeOIDs = []uint32{pgtype.TimestamptzOID, pgtype.TimestampOID}
	intOIDs  = []uint32{pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID}
	keyOIDs  = []uint32{pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.UUIDOID, pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID}
)

// newPlan reads the columns of the mapping's table or query (a LIMIT 0
// probe) and checks every column the mapping names, so a mistake is a
// start-up error naming the mapping key, not a poller that never moves.
func newPlan(ctx context.Context, db querier, m Mapping) (*plan, error) {
	p := &plan{m: m, seq: m.Sequence != "", segment: -1, deleted: -1}
	what := "table " + m.Table
	if m.Table != "" {
		parts := strings.Split(m.Table, ".")
		p.from = pgx.Identifier(parts).Sanitize() + " AS src"
	} else {
		what = "query"
		p.from = "(" + strings.TrimRight(strings.TrimSpace(m.Query), ";") + ") AS src"
	}
	// The probe binds $1 the way the page queries do, so a query that uses
	// it is checked too.
	probe := "SELECT * FROM " + p.from + " LIMIT 0"
	var args []any
	if strings.Contains(m.Query, "$1") {
		args = append(args, p.lowArg(0))
	}
	rows, err := db.Query(ctx, probe, args...)
	if err == nil {
		rows.Close()
		err = rows.Err()
	}
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P01" {
			return nil, fmt.Errorf("mapping table %q: %s (check the name and search_path, or the role's rights)", m.Table, pe.Message)
		}
		if m.Table != "" {
			return nil, fmt.Errorf("mapping table %q: %w", m.Table, err)
		}
		return nil, fmt.Errorf("mapping query: %w", err)
	}
	cols := map[string]pgconn.FieldDescription{}
	var names []string
	for _, fd := range rows.FieldDescriptions() {
		cols[fd.Name] = fd
		names = append(names, fd.Name)
	}
	find := func(setting, col string) (pgconn.FieldDescription, error) {
		if fd, ok := cols[col]; ok {
			return fd, nil
		}
		for n, fd := range cols { // an unquoted name is folded to lower case
			if strings.EqualFold(n, col) {
				return fd, nil
			}
		}
		return pgconn.FieldDescription{}, fmt.Errorf("mapping %s: column %q not found in the %s (columns: %s)",
			setting, col, what, strings.Join(names, ", "))
	}
	var sel []string
	add := func(fd pgconn.FieldDescription) int {
		sel = append(sel, "src."+pgx.Identifier{fd.Name}.Sanitize())
		p.oids = append(p.oids, fd.DataTypeOID)
		return len(sel) - 1
	}
	key, err := find("key", m.Key)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(keyOIDs, key.DataTypeOID) {
		return nil, fmt.Errorf("mapping key: column %q has type %s; want text, varchar, uuid or an integer", key.Name, typeName(key.DataTypeOID))
	}
	p.keyInt = slices.Contains(intOIDs, key.DataTypeOID)
	add(key)
	order, err := find(m.orderSetting(), m.order())
	if err != nil {
		return nil, err
	}
	switch {
	case p.seq && !slices.Contains(intOIDs, order.DataTypeOID):
		return nil, fmt.Errorf("mapping sequence: column %q has type %s; want an integer (or use updated_at for a timestamp)", order.Name, typeName(order.DataTypeOID))
	case !p.seq && !slices.Contains(timeOIDs, order.DataTypeOID):
		if slices.Contains(intOIDs, order.DataTypeOID) {
			return nil, fmt.Errorf("mapping updated_at: column %q is an integer; name it as sequence instead", order.Name)
		}
		return nil, fmt.Errorf("mapping updated_at: column %q has type %s; want timestamptz or timestamp", order.Name, typeName(order.DataTypeOID))
	}
	add(order)
	if m.Segment != "" {
		fd, err := find("segment", m.Segment)
		if err != nil {
			return nil, err
		}
		p.segment = add(fd)
	}
	if m.Deleted != "" {
		fd, err := find("deleted", m.Deleted)
		if err != nil {
			return nil, err
		}
		p.deleted = add(fd)
	}
	fieldNames := make([]string, 0, len(m.Fields))
	for col := range m.Fields {
		fieldNames = append(fieldNames, col)
	}
	slices.Sort(fieldNames)
	for _, col := range fieldNames {
		fd, err := find("fields."+col, col)
		if err != nil {
			return nil, err
		}
		if t := fd.DataTypeOID; t == pgtype.ByteaOID || t == pgtype.JSONOID || t == pgtype.JSONBOID {
			return nil, fmt.Errorf("mapping fields.%s: column %q has type %s, which has no Salesforce field value; select a text form in a query", col, fd.Name, typeName(t))
		}
		p.fields = append(p.fields, fieldCol{idx: add(fd), col: col, name: m.Fields[col]})
	}

	p.sel = sel
	k, o := sel[colKey], sel[colOrder]
	if p.seq {
		p.count = "SELECT count(*) FROM " + p.from + " WHERE " + o + " >= $1"
		p.check = "SELECT count(*) FILTER (WHERE " + k + " IS NULL), count(*) FILTER (WHERE " + o + " IS NULL), 0::bigint FROM " + p.from +
			" WHERE (" + k + " IS NULL OR " + o + " IS NULL) AND $1::bigint IS NOT NULL"
	} else {
		p.count = "SELECT count(*) FROM " + p.from + " WHERE " + o + " >= $1 AND " + o + " <= $2"
		// $2 is the database clock plus a tolerance: later rows wait.
		p.check = "SELECT count(*) FILTER (WHERE " + k + " IS NULL), count(*) FILTER (WHERE " + o + " IS NULL), count(*) FILTER (WHERE " + o + " > $2) FROM " + p.from +
			" WHERE (" + k + " IS NULL OR " + o + " IS NULL OR " + o + " > $2) AND $1::timestamptz IS NOT NULL"
	}
	return p, nil
}

// querier is what the plan needs from a pool or connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// lowArg is the $1 parameter for an ordering value (µs or a sequence).
func (p *plan) lowArg(v int64) any {
	if p.seq {
		return v
	}
	return timeOf(v)
}

// lowest is an ordering value below every row: the start of a first load.
func (p *plan) lowest() int64 {
	if p.seq {
		return math.MinInt64 / 2
	}
	return time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro() // PostgreSQL's range starts in 4713 BC
}

// keyArg is the keyset parameter for a key, in the column's type.
func (p *plan) keyArg(k string) any {
	if p.keyInt {
		var n int64
		fmt.Sscan(k, &n)
		return n
	}
	return k
}

var typeNames = map[uint32]string{pgtype.ByteaOID: "bytea", pgtype.JSONOID: "json", pgtype.JSONBOID: "jsonb",
	pgtype.TextOID: "text", pgtype.VarcharOID: "varchar", pgtype.Int8OID: "bigint", pgtype.Int4OID: "integer",
	pgtype.Int2OID: "smallint", pgtype.BoolOID: "boolean", pgtype.DateOID: "date", pgtype.NumericOID: "numeric",
	pgtype.Float8OID: "double precision", pgtype.Float4OID: "real", pgtype.UUIDOID: "uuid",
	pgtype.TimestamptzOID: "timestamptz", pgtype.TimestampOID: "timestamp"}

func typeName(oid uint32) string {
	if n, ok := typeNames[oid]; ok {
		return n
	}
	return fmt.Sprintf("OID %d", oid)
}

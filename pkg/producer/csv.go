package producer

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/delta"
)

// CSV reads a CSV file with a header row, one contact change per row, using
// mapping m. It returns an error when the header does not have the columns m
// needs; bad rows are yielded as rejected records numbered by their line.
func CSV(r io.Reader, m Mapping) (*CSVSource, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("csv: empty file (want a header row)")
		}
		return nil, fmt.Errorf("csv header: %w", err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\uFEFF")
	}
	s := &CSVSource{cr: cr, m: m, extID: -1, segment: -1, version: -1, updatedAt: -1}
	for i, h := range header {
		col := strings.ToLower(strings.TrimSpace(h))
		switch {
		case col == strings.ToLower(m.ExternalID):
			s.extID = i
		case m.Segment != "" && col == strings.ToLower(m.Segment):
			s.segment = i
		case m.Version != "" && col == strings.ToLower(m.Version):
			s.version = i
		case m.UpdatedAt != "" && col == strings.ToLower(m.UpdatedAt):
			s.updatedAt = i
		default:
			if name, ok := lookupFold(m.Fields, col); ok {
				s.fields = append(s.fields, csvField{col: i, name: name, header: strings.TrimSpace(h)})
			} else {
				s.ignored = append(s.ignored, strings.TrimSpace(h))
			}
		}
	}
	switch {
	case s.extID < 0:
		return nil, fmt.Errorf("csv header: no %q column (external ID)", m.ExternalID)
	case s.segment < 0 && m.DefaultSegment == "":
		return nil, fmt.Errorf("csv header: no %q column and no default_segment in the mapping", m.Segment)
	case s.version < 0 && s.updatedAt < 0:
		return nil, fmt.Errorf("csv header: no %q or %q column (version)", m.Version, m.UpdatedAt)
	case len(s.fields) == 0:
		cols := make([]string, 0, len(m.Fields))
		for c := range m.Fields {
			cols = append(cols, c)
		}
		slices.Sort(cols)
		return nil, fmt.Errorf("csv header: none of the mapped field columns (%s)", strings.Join(cols, ", "))
	}
	return s, nil
}

func lookupFold(m map[string]string, col string) (string, bool) {
	for k, v := range m {
		if strings.EqualFold(strings.TrimSpace(k), col) {
			return v, true
		}
	}
	return "", false
}

// CSVSource is the Source CSV returns.
type CSVSource struct {
	cr                                 *csv.Reader
	m                                  Mapping
	extID, segment, version, updatedAt int
	fields                             []csvField
	ignored                            []string
	err                                error
	done                               bool
	lastErrLine                        int
}

type csvField struct {
	col          int
	name, header string
}

// Ignored lists the header columns the mapping does not use.
func (s *CSVSource) Ignored() []string { return slices.Clone(s.ignored) }

// Err is the read error that ended the source, if any.
func (s *CSVSource) Err() error { return s.err }

// Next returns the next row as a record.
func (s *CSVSource) Next() (Record, bool) {
	if s.done {
		return Record{}, false
	}
	row, err := s.cr.Read()
	line, _ := s.cr.FieldPos(0)
	if err != nil {
		if errors.Is(err, io.EOF) {
			s.done = true
			return Record{}, false
		}
		var pe *csv.ParseError
		if !errors.As(err, &pe) || pe.StartLine == s.lastErrLine {
			// An I/O error, or a parse error the reader cannot get past.
			s.err, s.done = err, true
			return Record{}, false
		}
		s.lastErrLine = pe.StartLine
		return Record{N: pe.StartLine, Err: &delta.FieldError{Reason: "malformed CSV row: " + pe.Err.Error()}}, true
	}
	d, rerr := s.delta(row)
	return Record{N: line, Delta: d, Err: rerr}, true
}

func (s *CSVSource) delta(row []string) (delta.Delta, error) {
	d := delta.Delta{Schema: delta.SchemaV1, ExternalID: row[s.extID], Segment: s.m.DefaultSegment, Fields: map[string]any{}}
	if s.segment >= 0 && row[s.segment] != "" {
		d.Segment = row[s.segment]
	}
	switch {
	case s.version >= 0 && strings.TrimSpace(row[s.version]) != "":
		v, err := strconv.ParseInt(strings.TrimSpace(row[s.version]), 10, 64)
		if err != nil {
			return d, &delta.FieldError{Field: s.m.Version, Reason: fmt.Sprintf("%q is not an integer version", row[s.version])}
		}
		d.Version = v
	case s.updatedAt >= 0 && strings.TrimSpace(row[s.updatedAt]) != "":
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(row[s.updatedAt]))
		if err != nil {
			return d, &delta.FieldError{Field: s.m.UpdatedAt, Reason: fmt.Sprintf("%q is not an RFC 3339 time (e.g. 2026-11-26T10:00:00Z)", row[s.updatedAt])}
		}
		d.Version = t.UnixMicro()
	default:
		return d, &delta.FieldError{Field: "version", Reason: fmt.Sprintf("empty: set the %q or %q column", s.m.Version, s.m.UpdatedAt)}
	}
	for _, f := range s.fields {
		v := row[f.col]
		if v == "" {
			if s.m.Empty == "null" {
				d.Fields[f.name] = nil
			}
			continue
		}
		d.Fields[f.name] = v
	}
	if err := d.Validate(); err != nil {
		return d, err
	}
	return d, nil
}

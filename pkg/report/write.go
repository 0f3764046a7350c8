package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Files of one run, in DIR/<run>/.
const (
	FileDuplicates = "1-duplicate-emails.csv"
	FileFailures   = "2-failures.csv"
	FileGaps       = "3-source-gaps.csv"
	FileRecent     = "4-updated-24h.csv"
	FileSummary    = "summary.json"
	FilePage       = "report.html"
)

// Summary is the JSON summary of a run (summary.json, and syncctl's --json).
type Summary struct {
	*Result
	Totals     Totals   `json:"totals"`
	TotalCalls int64    `json:"total_api_calls"`
	NonEmpty   bool     `json:"non_empty"`
	Dir        string   `json:"dir,omitempty"`
	Files      []string `json:"files,omitempty"`
}

// Summarize is r's JSON summary.
func (r *Result) Summarize() Summary {
	return Summary{Result: r, Totals: r.Totals(), TotalCalls: r.TotalCalls(), NonEmpty: r.NonEmpty()}
}

// Write puts the run into a new directory under dir (named for its time,
// 20261202T150405Z) and returns the summary with the paths. The page's trend
// reads the summaries of earlier runs under dir.
func Write(dir string, r *Result) (Summary, error) {
	s := r.Summarize()
	run := filepath.Join(dir, r.At.UTC().Format("20060102T150405Z"))
	if err := os.MkdirAll(run, 0o755); err != nil {
		return s, fmt.Errorf("--out %s: %w", dir, err)
	}
	trend, err := ReadTrend(dir)
	if err != nil {
		return s, err
	}
	s.Dir = run
	write := func(name string, f func(io.Writer) error) error {
		p := filepath.Join(run, name)
		out, err := os.Create(p)
		if err != nil {
			return fmt.Errorf("--out %s: %w", dir, err)
		}
		if err := f(out); err != nil {
			out.Close()
			return fmt.Errorf("write %s: %w", p, err)
		}
		if err := out.Close(); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		s.Files = append(s.Files, p)
		return nil
	}
	steps := []struct {
		name string
		f    func(io.Writer) error
	}{
		{FileDuplicates, r.WriteDuplicatesCSV},
		{FileFailures, r.WriteFailuresCSV},
		{FileGaps, r.WriteGapsCSV},
		{FileRecent, r.WriteRecentCSV},
		{FilePage, func(w io.Writer) error {
			return WritePage(w, r, append(trend, TrendPoint{At: r.At, Totals: r.Totals()}))
		}},
	}
	for _, st := range steps {
		if err := write(st.name, st.f); err != nil {
			return s, err
		}
	}
	s.Files = append(s.Files, filepath.Join(run, FileSummary))
	if err := write(FileSummary, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}); err != nil {
		return s, err
	}
	s.Files = s.Files[:len(s.Files)-1]
	return s, nil
}

// TrendPoint is one earlier run's totals.
type TrendPoint struct {
	At     time.Time `json:"at"`
	Totals Totals    `json:"totals"`
}

// ReadTrend reads the totals of the runs kept under dir, oldest first. A
// summary that does not parse is skipped (a run cut short).
func ReadTrend(dir string) ([]TrendPoint, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*", FileSummary))
	if err != nil {
		return nil, err
	}
	var out []TrendPoint
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var tp TrendPoint
		if json.Unmarshal(b, &tp) != nil || tp.At.IsZero() {
			continue
		}
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

func writeCSV(w io.Writer, header []string, rows [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, r := range rows {
		for i, v := range r {
			r[i] = defuse(v)
		}
		if err := cw.Write(r); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// defuse keeps a spreadsheet from reading a cell as a formula.
func defuse(v string) string {
	if v != "" && strings.ContainsAny(v[:1], "=+-@\t\r") {
		return "'" + v
	}
	return v
}

// WriteDuplicatesCSV writes report 1.
func (r *Result) WriteDuplicatesCSV(w io.Writer) error {
	rows := make([][]string, len(r.Duplicates))
	for i, d := range r.Duplicates {
		rows[i] = []string{d.SalesforceID, d.ExternalID, d.OtherExternalIDs, d.Email, d.Link}
	}
	return writeCSV(w, []string{"salesforce_id", "external_id", "other_external_ids", "email", "link"}, rows)
}

// WriteFailuresCSV writes report 2.
func (r *Result) WriteFailuresCSV(w io.Writer) error {
	rows := make([][]string, len(r.Failures))
	for i, f := range r.Failures {
		rows[i] = []string{f.Kind, f.RecordID, f.SalesforceID, f.ExternalID, f.ExistingExternalID, f.Email, f.Code, f.Status, f.Detail, f.Link}
	}
	return writeCSV(w, []string{"kind", "record_id", "salesforce_id", "external_id", "existing_external_id", "email", "code", "status", "detail", "link"}, rows)
}

// WriteGapsCSV writes report 3.
func (r *Result) WriteGapsCSV(w io.Writer) error {
	rows := make([][]string, len(r.Gaps))
	for i, g := range r.Gaps {
		rows[i] = []string{g.Problem, g.SalesforceID, g.SourceExternalID, g.SFExternalID, g.Email, g.Fields, g.Link}
	}
	return writeCSV(w, []string{"problem", "salesforce_id", "source_external_id", "salesforce_external_id", "email", "fields", "link"}, rows)
}

// WriteRecentCSV writes report 4.
func (r *Result) WriteRecentCSV(w io.Writer) error {
	rows := make([][]string, len(r.Recent))
	for i, c := range r.Recent {
		rows[i] = []string{c.SalesforceID, c.ExternalID, c.Email, c.LastModified, c.Link}
	}
	return writeCSV(w, []string{"salesforce_id", "external_id", "email", "last_modified", "link"}, rows)
}

package report

import (
	"fmt"
	"html/template"
	"io"
	"sort"
)

// PageRows is how many rows of each report the page shows; the CSV files
// hold them all.
const PageRows = 200

// bar is one bar of an inline SVG chart.
type bar struct {
	Label       string
	Value       int64
	Y, W, TextX int
	Fill        string
}

type chart struct {
	Title  string
	Height int
	Bars   []bar
	Empty  string
}

const chartWidth = 420

var palette = map[string]string{"New": "#d9822b", "Resolved": "#2b7bd9", "Applied": "#3a9a4a", "Apply_Failed": "#c83737", "Ignored": "#8a8a8a"}

func barChart(title string, labels []string, values []int64, fills []string, empty string) chart {
	c := chart{Title: title, Empty: empty}
	var max int64 = 1
	for _, v := range values {
		max = maxInt(max, v)
	}
	for i, l := range labels {
		w := int(values[i] * 200 / max)
		if values[i] > 0 && w < 2 {
			w = 2
		}
		fill := "#4a6fa5"
		if fills != nil && fills[i] != "" {
			fill = fills[i]
		}
		c.Bars = append(c.Bars, bar{Label: l, Value: values[i], Y: 8 + i*24, W: w, TextX: 172 + w, Fill: fill})
	}
	c.Height = 16 + len(labels)*24
	return c
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

type trendPoint struct {
	X, Y  int
	Label string
	Value int
}

type pageData struct {
	R          *Result
	T          Totals
	Calls      int64
	Dup        []DuplicateRow
	Fail       []FailureRow
	Gaps       []GapRow
	Recent     []RecentRow
	Exceptions chart
	DLQ        chart
	APIPct     int
	APIWidth   int
	Trend      []trendPoint
	TrendPath  string
	PageRows   int
}

func firstN[T any](s []T) []T {
	if len(s) > PageRows {
		return s[:PageRows]
	}
	return s
}

// WritePage writes the self-contained HTML page: inline CSS and SVG, no
// script, no external asset, so it opens from disk and in a mail client.
func WritePage(w io.Writer, r *Result, trend []TrendPoint) error {
	d := pageData{R: r, T: r.Totals(), Calls: r.TotalCalls(), Dup: firstN(r.Duplicates), Fail: firstN(r.Failures),
		Gaps: firstN(r.Gaps), Recent: firstN(r.Recent), PageRows: PageRows}
	var labels []string
	var values []int64
	var fills []string
	for _, e := range r.Exceptions {
		labels = append(labels, e.Kind+" · "+e.Status)
		values = append(values, e.Count)
		fills = append(fills, palette[e.Status])
	}
	d.Exceptions = barChart("Exceptions by kind and status", labels, values, fills, "No exception records.")
	codes := make([]string, 0, len(r.DLQByCode))
	for c := range r.DLQByCode {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	values = values[:0]
	for _, c := range codes {
		values = append(values, int64(r.DLQByCode[c]))
	}
	d.DLQ = barChart("Dead letters by error code", codes, append([]int64(nil), values...), nil, "The DLQ is empty.")
	if r.APIMax > 0 {
		d.APIPct = r.APIUsed * 100 / r.APIMax
		d.APIWidth = r.APIUsed * 400 / r.APIMax
	}
	// Trend: rows across the four reports per run.
	var top int = 1
	for _, p := range trend {
		n := p.Totals.DuplicateEmails + p.Totals.Failures + p.Totals.SourceGaps + p.Totals.Updated24h
		if n > top {
			top = n
		}
	}
	for i, p := range trend {
		n := p.Totals.DuplicateEmails + p.Totals.Failures + p.Totals.SourceGaps + p.Totals.Updated24h
		x := 30
		if len(trend) > 1 {
			x = 30 + i*380/(len(trend)-1)
		}
		y := 110 - n*90/top
		d.Trend = append(d.Trend, trendPoint{X: x, Y: y, Label: p.At.UTC().Format("01-02 15:04"), Value: n})
		if i == 0 {
			d.TrendPath = fmt.Sprintf("M%d %d", x, y)
		} else {
			d.TrendPath += fmt.Sprintf(" L%d %d", x, y)
		}
	}
	return pageTemplate.Execute(w, d)
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>contactsync daily reports {{.R.At.Format "2006-01-02 15:04 UTC"}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#1d2733;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d5dbe3;padding-bottom:4px}
.muted{color:#5c6b7a}.totals{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid #d5dbe3;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:22px}.card.hot b{color:#c83737}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef1f4;vertical-align:top}
th{background:#f5f7fa}td.n{font-variant-numeric:tabular-nums}.charts{display:flex;flex-wrap:wrap;gap:24px}
.charts figure{margin:0}.charts figcaption{font-weight:600;margin-bottom:4px}svg text{font:12px system-ui,sans-serif;fill:#1d2733}
.empty{color:#3a9a4a}
</style></head><body>
<h1>contactsync daily reports</h1>
<div class="muted">{{.R.At.Format "2006-01-02 15:04:05 UTC"}} · org {{.R.InstanceURL}} · {{.R.Contacts}} contacts · source: {{if .R.Source}}{{.R.Source}}{{else}}none{{end}}{{if .R.SourceRejected}} ({{.R.SourceRejected}} unreadable rows left out){{end}} · {{.Calls}} API calls</div>
<div class="totals">
<div class="card{{if .T.DuplicateEmails}} hot{{end}}"><b>{{.T.DuplicateEmails}}</b>1 · shared emails</div>
<div class="card{{if .T.Failures}} hot{{end}}"><b>{{.T.Failures}}</b>2 · need a person</div>
<div class="card{{if .T.SourceGaps}} hot{{end}}"><b>{{.T.SourceGaps}}</b>3 · missing {{.T.MissingFromSF}} · unknown {{.T.UnknownToSource}} · drift {{.T.Drift}}</div>
<div class="card"><b>{{.T.Updated24h}}</b>4 · updated in 24 h</div>
</div>
<div class="charts">
{{template "chart" .Exceptions}}
{{template "chart" .DLQ}}
<figure><figcaption>Daily API usage</figcaption>
<svg role="img" width="420" height="56" viewBox="0 0 420 56" xmlns="http://www.w3.org/2000/svg"><rect x="0" y="8" width="400" height="20" fill="#eef1f4"/><rect x="0" y="8" width="{{.APIWidth}}" height="20" fill="{{if ge .APIPct 90}}#c83737{{else}}#4a6fa5{{end}}"/><line x1="360" y1="4" x2="360" y2="32" stroke="#d9822b" stroke-dasharray="3 2"/><text x="0" y="46">{{.R.APIUsed}} of {{.R.APIMax}} ({{.APIPct}}%) · this run {{.Calls}} · pause at 90%</text></svg></figure>
<figure><figcaption>Trend: rows across the four reports per run</figcaption>
<svg role="img" width="420" height="140" viewBox="0 0 420 140" xmlns="http://www.w3.org/2000/svg"><line x1="20" y1="112" x2="415" y2="112" stroke="#d5dbe3"/>{{if .TrendPath}}<path d="{{.TrendPath}}" fill="none" stroke="#4a6fa5" stroke-width="2"/>{{end}}{{range .Trend}}<circle cx="{{.X}}" cy="{{.Y}}" r="3" fill="#4a6fa5"><title>{{.Label}}: {{.Value}}</title></circle><text x="{{.X}}" y="{{.Y}}" dy="-6" text-anchor="middle">{{.Value}}</text>{{end}}{{with .Trend}}<text x="20" y="130">{{(index . 0).Label}}</text>{{end}}<text x="415" y="130" text-anchor="end">now</text></svg></figure>
</div>

<section id="duplicate-emails"><h2>1 · Contacts that share an email but have different external IDs ({{.T.DuplicateEmails}})</h2>
{{if .Dup}}<table><tr><th>Salesforce Id</th><th>External ID</th><th>Other external IDs</th><th>Email</th></tr>
{{range .Dup}}<tr><td><a href="{{.Link}}">{{.SalesforceID}}</a></td><td>{{.ExternalID}}</td><td>{{.OtherExternalIDs}}</td><td>{{.Email}}</td></tr>
{{end}}</table>{{if gt .T.DuplicateEmails .PageRows}}<p class="muted">First {{.PageRows}}; all in 1-duplicate-emails.csv.</p>{{end}}{{else}}<p class="empty">None.</p>{{end}}</section>

<section id="failures"><h2>2 · Upsert failures that need a person ({{.T.Failures}})</h2>
{{if .Fail}}<table><tr><th>Kind</th><th>Record</th><th>Contact</th><th>External ID</th><th>Existing external ID</th><th>Code / kind</th><th>Status</th><th>Detail</th></tr>
{{range .Fail}}<tr><td>{{.Kind}}</td><td>{{if .Link}}<a href="{{.Link}}">{{.RecordID}}</a>{{else}}DLQ #{{.RecordID}}{{end}}</td><td>{{.SalesforceID}}</td><td>{{.ExternalID}}</td><td>{{.ExistingExternalID}}</td><td>{{.Code}}</td><td>{{.Status}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>{{if gt .T.Failures .PageRows}}<p class="muted">First {{.PageRows}}; all in 2-failures.csv.</p>{{end}}{{else}}<p class="empty">None.</p>{{end}}</section>

<section id="source-gaps"><h2>3 · Source against Salesforce: missing, unknown, edited by hand ({{.T.SourceGaps}})</h2>
{{if .Gaps}}<table><tr><th>Problem</th><th>Salesforce Id</th><th>Source external ID</th><th>Salesforce external ID</th><th>Email</th><th>Fields last written</th></tr>
{{range .Gaps}}<tr><td>{{.Problem}}</td><td>{{if .Link}}<a href="{{.Link}}">{{.SalesforceID}}</a>{{end}}</td><td>{{.SourceExternalID}}</td><td>{{.SFExternalID}}</td><td>{{.Email}}</td><td>{{.Fields}}</td></tr>
{{end}}</table>{{if gt .T.SourceGaps .PageRows}}<p class="muted">First {{.PageRows}}; all in 3-source-gaps.csv.</p>{{end}}{{else}}<p class="empty">None.</p>{{end}}</section>

<section id="updated-24h"><h2>4 · Contacts updated in the last 24 hours ({{.T.Updated24h}})</h2>
{{if .Recent}}<table><tr><th>Salesforce Id</th><th>External ID</th><th>Email</th><th>Last modified</th></tr>
{{range .Recent}}<tr><td><a href="{{.Link}}">{{.SalesforceID}}</a></td><td>{{.ExternalID}}</td><td>{{.Email}}</td><td>{{.LastModified}}</td></tr>
{{end}}</table>{{if gt .T.Updated24h .PageRows}}<p class="muted">First {{.PageRows}}; all in 4-updated-24h.csv.</p>{{end}}{{else}}<p class="empty">None.</p>{{end}}</section>

<h2>API calls</h2>
<table><tr><th>Read</th><th>Via</th><th>Rows</th><th>API calls</th><th>For report</th></tr>
{{range .R.Calls}}<tr><td>{{.Read}}</td><td>{{.Via}}</td><td class="n">{{.Rows}}</td><td class="n">{{.Calls}}</td><td>{{.For}}</td></tr>
{{end}}</table>
</body></html>
{{define "chart"}}<figure><figcaption>{{.Title}}</figcaption>{{if .Bars}}<svg role="img" width="420" height="{{.Height}}" viewBox="0 0 420 {{.Height}}" xmlns="http://www.w3.org/2000/svg">{{range .Bars}}<text x="164" y="{{.Y}}" dy="14" text-anchor="end">{{.Label}}</text><rect x="168" y="{{.Y}}" width="{{.W}}" height="18" fill="{{.Fill}}"/><text x="{{.TextX}}" y="{{.Y}}" dx="4" dy="14">{{.Value}}</text>{{end}}</svg>{{else}}<p class="empty">{{.Empty}}</p>{{end}}</figure>{{end}}
`))

package deployments_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// The series the workers export (pkg/upsert metrics and the Salesforce
// client's usage); the dashboard may query nothing else.
var exportedMetrics = []string{
	"contactsync_deltas_total",
	"contactsync_batch_seconds",
	"contactsync_sf_api_calls_total",
	"contactsync_sf_api_usage_ratio",
	"contactsync_partitions_owned",
}

func TestGrafanaDashboardQueriesTheExportedMetrics(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deployments/grafana/contactsync.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			GridPos struct {
				X, Y, W, H int
			} `json:"gridPos"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("contactsync.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard uid %q title %q with %d panels", dash.UID, dash.Title, len(dash.Panels))
	}
	series := regexp.MustCompile(`contactsync_[a-z_]+`)
	used := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d repeated", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W == 0 || p.GridPos.H == 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q gridPos %+v", p.Title, p.GridPos)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range series.FindAllString(tg.Expr, -1) {
				name := m
				if base, ok := cutSuffixAny(m, "_bucket", "_sum", "_count"); ok && base == "contactsync_batch_seconds" {
					name = base
				}
				if !slices.Contains(exportedMetrics, name) {
					t.Errorf("panel %q queries %s, which no worker exports", p.Title, m)
				}
				used[name] = true
			}
		}
	}
	for _, m := range exportedMetrics {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}

func cutSuffixAny(s string, suffixes ...string) (string, bool) {
	for _, suf := range suffixes {
		if len(s) > len(suf) && s[len(s)-len(suf):] == suf {
			return s[:len(s)-len(suf)], true
		}
	}
	return s, false
}

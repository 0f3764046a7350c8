package report_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/contactsync/contactsync/pkg/report"
)

// chromium finds a headless-capable Chromium: CONTACTSYNC_CHROMIUM (.ci/run
// sets it), else chromium on PATH. Missing, the test fails under CI=true and
// is skipped otherwise.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CONTACTSYNC_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found (CONTACTSYNC_CHROMIUM unset, no chromium on PATH): .ci/run installs it with apt-get install -y chromium")
	}
	t.Skip("chromium not found; apt-get install -y chromium, or set CONTACTSYNC_CHROMIUM")
	return ""
}

// The page opens from disk in a real headless Chromium with no console
// error and no request beyond the file itself, and shows the four sections
// with their totals, the charts and the trend of the two runs in --out.
func TestPageInChromium(t *testing.T) {
	exe := chromium(t)
	o := seed(t)
	src, err := report.LoadFile(o.srcFile, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	first := o.run(t, src, report.Config{Now: time.Now().Add(-24 * time.Hour)})
	if _, err := report.Write(dir, first); err != nil {
		t.Fatal(err)
	}
	res := o.run(t, src, report.Config{})
	sum, err := report.Write(dir, res)
	if err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(sum.Dir, report.FilePage)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, // the CI container runs as root

		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1200, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	// The console, read from before the page opens until a marker the
	// test writes after it has loaded.
	var mu sync.Mutex
	var problems []string
	marker := make(chan struct{})
	cctx, stopConsole := context.WithCancel(ctx)
	defer stopConsole()
	messages := chromedp.Console(cctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			switch {
			case m.Text == "report-test-done":
				close(marker)
			case m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException():
				problems = append(problems, m.String())
			}
			mu.Unlock()
		}
	}()

	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+page), chromedp.WaitVisible(chromedp.CSS("#updated-24h"))); err != nil {
		t.Fatal(err)
	}
	sections, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("section")).map(s => s.id)`))
	if err != nil {
		t.Fatal(err)
	}
	svgs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg").length`))
	if err != nil {
		t.Fatal(err)
	}
	resources, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`performance.getEntriesByType("resource").map(e => e.name)`))
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`console.info("report-test-done")`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-marker:
	case <-time.After(30 * time.Second):
		t.Fatal("the console marker never arrived")
	}
	stopConsole()
	<-done

	if got := strings.Join(sections, " "); got != "duplicate-emails failures source-gaps updated-24h" {
		t.Errorf("sections = %q, want the four reports", got)
	}
	for _, want := range []string{
		"Contacts that share an email but have different external IDs (2)",
		"Upsert failures that need a person (2)",
		"missing, unknown, edited by hand (5)",
		"Contacts updated in the last 24 hours (8)",
		"Exceptions by kind and status", "Email_Conflict · New",
		"Dead letters by error code", "INVALID_EMAIL_ADDRESS",
		"Daily API usage", "Trend", "SHARE_A", "MC_GONE",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(text, "shared@example.com") {
		t.Error("page shows an email in clear")
	}
	if svgs != 4 {
		t.Errorf("%d inline SVG charts, want 4 (exceptions, DLQ, API usage, trend)", svgs)
	}
	if len(problems) > 0 {
		t.Errorf("console: %v", problems)
	}
	if len(resources) > 0 {
		t.Errorf("the page loaded %v: it must be self-contained", resources)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is no PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("screenshot %v", b)
	}
	if p := os.Getenv("CONTACTSYNC_REPORT_SCREENSHOT"); p != "" {
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

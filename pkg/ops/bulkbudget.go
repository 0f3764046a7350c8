package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// ErrAPIBudget: a Bulk backfill stopped because the org's daily API use
// reached the fleet's budget (or Salesforce answered
// REQUEST_LIMIT_EXCEEDED). Nothing was lost: running the same command with
// the same ticket later re-attaches to the jobs already created and
// carries on. It matches cli.ErrIncomplete too (exit 3).
var ErrAPIBudget = errors.New("API budget reached")

type budgetError struct{ msg string }

func (e *budgetError) Error() string { return e.msg }
func (e *budgetError) Is(target error) bool {
	return target == ErrAPIBudget || target == cli.ErrIncomplete
}

// bulkBudget is the live path's gate (upsert.Gate: closed once
// Sforce-Limit-Info shows the threshold reached, open again when /limits
// shows room, one check per interval) asked before every step that
// writes: each job, each batch of conflicts, each Collections round.
type bulkBudget struct {
	gate     *upsert.Gate
	sf       BulkSalesforce
	share    float64
	wait     time.Duration
	interval time.Duration
	names    string // the settings the threshold came from, for messages
}

func newBulkBudget(o BulkBackfillOptions, log *zap.Logger) *bulkBudget {
	if o.APIBudget <= 0 {
		return nil
	}
	interval := o.LimitCheckInterval
	if interval <= 0 {
		interval = time.Minute
	}
	names := o.APIBudgetSetting
	if names == "" {
		names = "API budget"
	}
	return &bulkBudget{gate: upsert.NewGate(o.SF, o.APIBudget, interval, log), sf: o.SF, share: o.APIBudget,
		wait: o.BudgetWait, interval: interval, names: names}
}

// reason says how far the org's use is, from the latest Sforce-Limit-Info.
func (g *bulkBudget) reason() string {
	u := g.sf.Usage()
	return fmt.Sprintf("the org's API usage %d/%d reached %.0f%% of the daily allocation (%s)", u.Used, u.Max, g.share*100, g.names)
}

func (g *bulkBudget) over() bool {
	u := g.sf.Usage()
	return u.Seen && u.Max > 0 && float64(u.Used) >= g.share*float64(u.Max)
}

// admit returns nil when the step may spend calls. A closed gate is waited
// at up to BudgetWait (paused is told first), then the backfill stops with
// ErrAPIBudget naming the step.
func (b *bulkBackfill) admit(ctx context.Context, step string) error {
	g := b.budget
	if g == nil {
		return nil
	}
	paused, _ := g.gate.Paused()
	if !paused && !g.over() {
		return nil
	}
	if g.wait > 0 {
		b.res.Paused = g.reason() + fmt.Sprintf("; waiting up to %s, checking /limits every %s", g.wait, g.interval)
		b.progress("paused")
		b.res.Paused = ""
	}
	wctx, cancel := context.WithTimeout(ctx, g.wait)
	defer cancel()
	err := g.gate.Wait(wctx)
	switch {
	case err == nil:
		b.progress("resumed")
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return b.stopped(step, g.reason())
}

// limited turns REQUEST_LIMIT_EXCEEDED (or any limit-class error) into a
// budget stop, and returns other errors unchanged.
func (b *bulkBackfill) limited(step string, err error) error {
	if err == nil || salesforce.ClassOf(err) != salesforce.ClassLimit {
		return err
	}
	return b.stopped(step, "Salesforce refused the call: "+err.Error())
}

func (b *bulkBackfill) stopped(step, why string) error {
	b.res.Stopped = why
	resume := "nothing was sent yet"
	if len(b.res.Jobs) > 0 {
		resume = "it re-attaches to job " + strings.Join(b.res.Jobs, ", ") + " instead of uploading again"
	}
	return &budgetError{msg: fmt.Sprintf("bulk backfill of segment %s stopped before %s: %s; run the same command (--ticket %s) again when the allocation has room: %s",
		b.opts.Segment, step, why, b.opts.Ticket, resume)}
}

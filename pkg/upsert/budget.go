package upsert

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/salesforce"
)

// budget turns the org's API use into the freshness budget a call may wait.
//
// From the Sforce-Limit-Info samples the client sees (org-wide calls in the
// rolling 24 h, and the allocation), it estimates the recent call rate and
// projects it over a day. While the projection stays within this fleet's
// share of the allocation (SF_API_BUDGET), calls wait up to MaxDelay; above
// it the wait stretches in proportion (a projection of twice the share
// doubles it), up to MaxDelayCap, so calls fill up and the fleet spends
// fewer of them, long before the gate pauses writes at
// SF_API_USAGE_PAUSE_AT. It also warns, hours ahead, when the allocation
// will run out at the current rate.
type budget struct {
	usage   func() salesforce.Usage
	now     func() time.Time
	share   float64
	base    time.Duration
	cap     time.Duration
	log     *zap.Logger
	metrics *Metrics      // nil = none
	window  time.Duration // how far back the rate is measured

	mu      sync.Mutex
	samples []usageSample
	warned  time.Time
	last    forecast
}

type usageSample struct {
	at   time.Time
	used int
}

// forecast is the budget's latest view, for logs, metrics and tests.
type forecast struct {
	Max            int           // the org's daily allocation
	Used           int           // calls in the rolling 24 h
	PerDay         float64       // projected calls per day at the recent rate
	ExhaustedIn    time.Duration // until the allocation is spent at that rate; 0 = not at risk or unknown
	Delay          time.Duration // the freshness budget now
	Stretched      bool
	EnoughSamples  bool
	ProjectedShare float64 // PerDay / Max
}

// MemberReport is what an upserter publishes with its heartbeat (the
// upserter_members bucket) for `syncctl status`.
type MemberReport struct {
	At                  time.Time `json:"at"`
	Partitions          []int     `json:"partitions"`
	FreshnessBudgetMS   int64     `json:"freshness_budget_ms"`
	Stretched           bool      `json:"stretched,omitempty"`
	APIUsed             int       `json:"api_used,omitempty"`
	APIMax              int       `json:"api_max,omitempty"`
	ProjectedDailyShare float64   `json:"projected_daily_share,omitempty"`
	APIExhaustedInS     int64     `json:"api_exhausted_in_s,omitempty"`
	// Calls are the Collections upsert calls this member sent since it
	// started, by why they went out, and the records they carried: the
	// batch fill, against BatchSize records per call.
	Calls     CallSnapshot `json:"calls"`
	BatchSize int          `json:"batch_size,omitempty"`
}

// report is the budget's part of a MemberReport.
func (b *budget) report(r *MemberReport) {
	f := b.observe()
	r.FreshnessBudgetMS, r.Stretched = f.Delay.Milliseconds(), f.Stretched
	r.APIUsed, r.APIMax, r.ProjectedDailyShare = f.Used, f.Max, f.ProjectedShare
	r.APIExhaustedInS = int64(f.ExhaustedIn.Seconds())
}

// exhaustionWarning is how far ahead a coming exhaustion is logged.
const exhaustionWarning = 6 * time.Hour

func newBudget(usage func() salesforce.Usage, share float64, base, cap time.Duration, log *zap.Logger) *budget {
	return &budget{usage: usage, now: time.Now, share: share, base: base, cap: max(cap, base), log: log, window: 15 * time.Minute}
}

// delay is the freshness budget for a call made now.
func (b *budget) delay() time.Duration { return b.observe().Delay }

// observe takes a usage sample and recomputes the forecast.
func (b *budget) observe() forecast {
	u := b.usage()
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	f := forecast{Delay: b.base}
	if !u.Seen || u.Max <= 0 {
		return b.publish(f)
	}
	f.Max, f.Used = u.Max, u.Used
	if n := len(b.samples); n == 0 || b.samples[n-1].used != u.Used || now.Sub(b.samples[n-1].at) > time.Minute {
		b.samples = append(b.samples, usageSample{now, u.Used})
	}
	for len(b.samples) > 2 && now.Sub(b.samples[1].at) > b.window {
		b.samples = b.samples[1:]
	}
	first := b.samples[0]
	span := now.Sub(first.at)
	if span < time.Minute || u.Used < first.used { // too little to go on, or the 24 h window rolled past a burst
		return b.publish(f)
	}
	f.EnoughSamples = true
	rate := float64(u.Used-first.used) / span.Seconds() // calls per second, org-wide
	f.PerDay = rate * 24 * 3600
	f.ProjectedShare = f.PerDay / float64(u.Max)
	if rate > 0 {
		if left := u.Max - u.Used; left > 0 {
			f.ExhaustedIn = time.Duration(float64(left) / rate * float64(time.Second))
		} else {
			f.ExhaustedIn = time.Nanosecond
		}
	}
	if limit := b.share * float64(u.Max); f.PerDay > limit && limit > 0 {
		d := time.Duration(float64(b.base) * f.PerDay / limit)
		f.Delay, f.Stretched = min(d, b.cap), true
	}
	if f.ExhaustedIn > 0 && f.ExhaustedIn < exhaustionWarning && f.ExhaustedIn < 24*time.Hour && now.Sub(b.warned) > time.Hour {
		b.warned = now
		b.log.Warn("at the current rate the org's daily API allocation runs out soon",
			zap.Duration("in", f.ExhaustedIn.Round(time.Minute)), zap.Int("used", u.Used), zap.Int("max", u.Max),
			zap.Float64("projected_calls_per_day", f.PerDay), zap.Duration("freshness_budget", f.Delay))
	}
	return b.publish(f)
}

// publish records f as the latest forecast. b.mu must be held.
func (b *budget) publish(f forecast) forecast {
	b.last = f
	b.metrics.budget(f)
	return f
}

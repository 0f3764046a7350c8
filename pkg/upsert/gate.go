package upsert

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Gate pauses writes process-wide when the org's daily API allocation is
// nearly spent (Sforce-Limit-Info) or Salesforce answered
// REQUEST_LIMIT_EXCEEDED. A paused gate checks /limits every CheckInterval
// and opens again when usage falls below the threshold, so a paused fleet
// spends one call per interval instead of hammering the org.
type Gate struct {
	sf       Salesforce
	pauseAt  float64
	interval time.Duration
	log      *zap.Logger

	mu     sync.Mutex
	paused bool
	reason string
	next   time.Time // next /limits check
}

// NewGate returns an open gate. pauseAt is the usage fraction that closes it.
func NewGate(sf Salesforce, pauseAt float64, checkInterval time.Duration, log *zap.Logger) *Gate {
	if log == nil {
		log = zap.NewNop()
	}
	return &Gate{sf: sf, pauseAt: pauseAt, interval: checkInterval, log: log}
}

// Paused reports whether writes are paused, and why.
func (g *Gate) Paused() (bool, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused, g.reason
}

// pause closes the gate.
func (g *Gate) pause(reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused {
		g.log.Warn("pausing Salesforce writes", zap.String("reason", reason))
	}
	g.paused, g.reason = true, reason
	g.next = time.Now().Add(g.interval)
}

// Wait returns when writes may proceed, or ctx's error.
func (g *Gate) Wait(ctx context.Context) error {
	for {
		if u := g.sf.Usage(); u.Seen && u.Max > 0 && float64(u.Used) >= g.pauseAt*float64(u.Max) {
			g.mu.Lock()
			if !g.paused {
				g.mu.Unlock()
				g.pause(fmt.Sprintf("API usage %d/%d reached the %.0f%% threshold (SF_API_USAGE_PAUSE_AT)", u.Used, u.Max, g.pauseAt*100))
				continue
			}
			g.mu.Unlock()
		}
		g.mu.Lock()
		if !g.paused {
			g.mu.Unlock()
			return nil
		}
		wait := time.Until(g.next)
		check := wait <= 0
		if check {
			g.next = time.Now().Add(g.interval) // one checker per interval
		}
		g.mu.Unlock()
		if check {
			if g.allocationFree(ctx) {
				g.mu.Lock()
				g.paused, g.reason = false, ""
				g.mu.Unlock()
				g.log.Info("resuming Salesforce writes")
				return nil
			}
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// allocationFree asks /limits whether usage is back under the threshold.
func (g *Gate) allocationFree(ctx context.Context) bool {
	lim, err := g.sf.Limits(ctx)
	if err != nil {
		g.log.Debug("limits check failed", zap.Error(err))
		return false
	}
	d, ok := lim["DailyApiRequests"]
	if !ok || d.Max <= 0 {
		return false
	}
	return float64(d.Max-d.Remaining) < g.pauseAt*float64(d.Max)
}

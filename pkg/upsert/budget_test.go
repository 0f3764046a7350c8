package upsert

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/contactsync/contactsync/pkg/salesforce"
)

// usageFeed plays Sforce-Limit-Info samples against a manual clock.
type usageFeed struct {
	now time.Time
	u   salesforce.Usage
}

func (f *usageFeed) budget(share float64, base, cap time.Duration, log *zap.Logger) *budget {
	b := newBudget(func() salesforce.Usage { return f.u }, share, base, cap, log)
	b.now = func() time.Time { return f.now }
	return b
}

// step advances the clock and the org's call count at calls per second.
func (f *usageFeed) step(d time.Duration, perSecond float64) {
	f.now = f.now.Add(d)
	f.u.Used += int(perSecond * d.Seconds())
}

func TestBudgetKeepsTheBaseDelayWithinTheShare(t *testing.T) {
	f := &usageFeed{now: time.Unix(0, 0), u: salesforce.Usage{Seen: true, Max: 100_000, Used: 1000}}
	b := f.budget(0.5, 2*time.Second, time.Minute, zap.NewNop())
	for range 20 {
		f.step(time.Minute, 0.4) // 34,560 a day: under half of 100,000
		if d := b.delay(); d != 2*time.Second {
			t.Fatalf("delay %v within the share, want the base 2s", d)
		}
	}
}

// Above the fleet's share the delay stretches in proportion, and never
// beyond its cap.
func TestBudgetStretchesTheDelayUnderPressureUpToItsCap(t *testing.T) {
	f := &usageFeed{now: time.Unix(0, 0), u: salesforce.Usage{Seen: true, Max: 100_000, Used: 1000}}
	b := f.budget(0.5, 2*time.Second, 10*time.Second, zap.NewNop())
	b.delay()
	for range 5 {
		f.step(time.Minute, 1.1574) // ≈ 100,000 a day: twice the 50,000 share
	}
	fc := b.observe()
	if !fc.Stretched || fc.Delay < 3900*time.Millisecond || fc.Delay > 4100*time.Millisecond {
		t.Fatalf("forecast %+v: want the delay doubled to about 4s", fc)
	}
	for range 30 {
		f.step(time.Minute, 20) // far beyond: the cap holds
		if d := b.delay(); d > 10*time.Second {
			t.Fatalf("delay %v beyond the 10s cap", d)
		}
	}
	if d := b.delay(); d != 10*time.Second {
		t.Fatalf("delay %v at heavy pressure, want the cap", d)
	}
}

// The coming exhaustion is said hours ahead, not at the pause threshold.
func TestBudgetWarnsHoursBeforeTheAllocationRunsOut(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	f := &usageFeed{now: time.Unix(0, 0), u: salesforce.Usage{Seen: true, Max: 100_000, Used: 20_000}}
	b := f.budget(1, 2*time.Second, time.Minute, zap.New(core))
	b.delay()
	for range 10 {
		f.step(time.Minute, 5) // 5/s: the 80,000 left last about 4.4 h
	}
	fc := b.observe()
	if fc.ExhaustedIn < 4*time.Hour || fc.ExhaustedIn > 5*time.Hour {
		t.Fatalf("exhausted in %v, want about 4.4h", fc.ExhaustedIn)
	}
	if float64(f.u.Used)/float64(f.u.Max) > 0.3 {
		t.Fatalf("test setup: usage %d/%d should be far from the pause threshold", f.u.Used, f.u.Max)
	}
	if logs.FilterMessage("at the current rate the org's daily API allocation runs out soon").Len() != 1 {
		t.Fatalf("want one warning, got %v", logs.All())
	}
}

func TestBudgetWithoutUsageKeepsTheBase(t *testing.T) {
	f := &usageFeed{now: time.Unix(0, 0)}
	b := f.budget(0.5, 3*time.Second, time.Minute, zap.NewNop())
	if d := b.delay(); d != 3*time.Second {
		t.Fatalf("delay %v before any Sforce-Limit-Info, want the base", d)
	}
}

package producer

import (
	"context"
	"errors"
	"time"
)

// Summary accounts for every record of an import:
// Read = Rejected + Published + Duplicates + Failed once it has finished.
type Summary struct {
	Read       int64 `json:"read"`
	Rejected   int64 `json:"rejected"`
	Published  int64 `json:"published"`
	Duplicates int64 `json:"duplicates"`
	Failed     int64 `json:"failed"`
}

// Add adds o to s.
func (s *Summary) Add(o Summary) {
	s.Read += o.Read
	s.Rejected += o.Rejected
	s.Published += o.Published
	s.Duplicates += o.Duplicates
	s.Failed += o.Failed
}

// Balanced reports whether every record read is accounted for.
func (s Summary) Balanced() bool {
	return s.Read == s.Rejected+s.Published+s.Duplicates+s.Failed
}

// ImportConfig tunes Import. The zero value works.
type ImportConfig struct {
	// Source is written to each delta's source key when it has none.
	Source string
	// OnReject is called for each rejected record.
	OnReject func(Record)
	// Progress is called every ProgressEvery records read (default 1000)
	// and at the end, with the summary so far (acks still in flight are not
	// yet counted as published).
	Progress      func(Summary)
	ProgressEvery int
	// Now stamps emitted_at on deltas that have none (default time.Now).
	Now func() time.Time
}

// Import publishes every valid record of src with pub and waits for all
// acks. It stops early only when ctx ends or src cannot be read (the error
// says so); the summary then counts what happened until then. Publish
// failures are counted in Failed (see WithFailureHandler for details).
func Import(ctx context.Context, src Source, pub *Publisher, cfg ImportConfig) (Summary, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	var sum Summary
	base := pub.Counts()
	if cfg.Progress != nil {
		src = WithProgress(src, cfg.ProgressEvery, func(read int) {
			s, c := sum, pub.Counts()
			s.Read = int64(read)
			s.Published, s.Duplicates, s.Failed = c.Published-base.Published, c.Duplicates-base.Duplicates, c.Failed-base.Failed
			cfg.Progress(s)
		})
	}
	for ctx.Err() == nil {
		rec, ok := src.Next()
		if !ok {
			break
		}
		sum.Read++
		if rec.Err == nil {
			if rec.Delta.Source == "" {
				rec.Delta.Source = cfg.Source
			}
			if rec.Delta.EmittedAt.IsZero() {
				rec.Delta.EmittedAt = now().UTC()
			}
			rec.Err = pub.Publish(ctx, rec.N, rec.Delta)
			if rec.Err != nil && ctx.Err() != nil {
				sum.Read-- // not handled: the import was cancelled
				break
			}
		}
		if rec.Err != nil {
			sum.Rejected++
			if cfg.OnReject != nil {
				cfg.OnReject(rec)
			}
		}
	}
	c, ferr := pub.Flush(ctx)
	sum.Published, sum.Duplicates, sum.Failed = c.Published-base.Published, c.Duplicates-base.Duplicates, c.Failed-base.Failed
	return sum, errors.Join(src.Err(), ctx.Err(), ignoreCtx(ferr))
}

func ignoreCtx(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

package pgsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Position is a source's saved watermark: every row up to (Order, Key) in
// keyset order was published and confirmed by JetStream, and every row not
// yet published is after it or has an ordering value of at least Bound
// (a late commit the next poll re-reads). The zero Position reads the
// whole table.
type Position struct {
	Order int64  `json:"order"`           // updated_at in µs, or the sequence
	Key   string `json:"key"`             // the key of the last row at Order
	Bound int64  `json:"bound,omitempty"` // time mode: database clock at the start of the poll minus the overlap, µs
	Set   bool   `json:"set"`             // false: nothing read yet
	// Rows counts the deltas this source published over its life (for ops).
	Rows    int64     `json:"rows"`
	SavedAt time.Time `json:"saved_at"`
}

// watermarks reads and writes positions in the watermarks KV bucket.
type watermarks struct {
	kv  jetstream.KeyValue
	key string
	rev uint64 // revision last read or written; 0 = none
}

// load returns the saved position (zero when there is none).
func (w *watermarks) load(ctx context.Context) (Position, error) {
	e, err := w.kv.Get(ctx, w.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		w.rev = 0
		return Position{}, nil
	}
	if err != nil {
		return Position{}, fmt.Errorf("read watermark %s: %w", w.key, err)
	}
	w.rev = e.Revision()
	var p Position
	if err := json.Unmarshal(e.Value(), &p); err != nil {
		return Position{}, fmt.Errorf("watermark %s is not a position: %w", w.key, err)
	}
	return p, nil
}

// errConcurrentPoller: the watermark moved under us.
var errConcurrentPoller = errors.New("the watermark was changed by another process (two pollers on one source?)")

// save writes p with a compare-and-set on the revision last seen, so two
// pollers of one source cannot move it back unnoticed.
func (w *watermarks) save(ctx context.Context, p Position) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	var rev uint64
	if w.rev == 0 {
		rev, err = w.kv.Create(ctx, w.key, b)
	} else {
		rev, err = w.kv.Update(ctx, w.key, b, w.rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("save watermark %s: %w", w.key, errConcurrentPoller)
	}
	if err != nil {
		return fmt.Errorf("save watermark %s: %w", w.key, err)
	}
	w.rev = rev
	return nil
}

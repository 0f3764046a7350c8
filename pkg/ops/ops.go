package ops

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/cli"
)

// Ops runs operator commands against one JetStream account.
type Ops struct {
	js    jetstream.JetStream
	log   *zap.Logger
	now   func() time.Time
	retry bus.Retry
}

// DefaultWait is how long Status keeps retrying a read while JetStream does
// not answer (no responders, timeouts, no leader) before it gives up.
const DefaultWait = 10 * time.Second

// Option configures an Ops.
type Option func(*Ops)

// WithRetry sets how Status retries reads while JetStream is unavailable
// (default: bus.Retry with MaxElapsed DefaultWait).
func WithRetry(r bus.Retry) Option {
	return func(o *Ops) { o.retry = r }
}

// New returns an Ops on js. A nil log means zap.NewNop(). The streams must
// exist (bus.Ensure); Ops never creates or changes topology.
func New(js jetstream.JetStream, log *zap.Logger, opts ...Option) *Ops {
	if log == nil {
		log = zap.NewNop()
	}
	o := &Ops{js: js, log: log, now: time.Now, retry: bus.Retry{MaxElapsed: DefaultWait}}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// read runs one read of a command, retried per o.retry while JetStream is
// unavailable; the error names step.
func (o *Ops) read(ctx context.Context, step string, f func(ctx context.Context) error) error {
	return o.retry.Do(ctx, step, f)
}

// ErrInvalid marks a bad argument (segment, ticket, filter); it is a usage
// error (errors.Is(err, cli.ErrUsage), exit 2).
var ErrInvalid error = invalidError{}

type invalidError struct{}

func (invalidError) Error() string        { return "invalid argument" }
func (invalidError) Is(target error) bool { return target == cli.ErrUsage }

var (
	segmentRe = regexp.MustCompile(`^[a-z0-9_-]+$`)
	ticketRe  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

func checkSegment(s string, required bool) error {
	if s == "" && !required {
		return nil
	}
	if !segmentRe.MatchString(s) {
		return fmt.Errorf("%w: --segment %q: want [a-z0-9_-]+", ErrInvalid, s)
	}
	return nil
}

func checkTicket(t string) error {
	if !ticketRe.MatchString(t) {
		return fmt.Errorf("%w: --ticket %q: want 1-64 of [A-Za-z0-9_-] (it becomes part of Nats-Msg-Id)", ErrInvalid, t)
	}
	return nil
}

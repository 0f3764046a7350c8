package ops

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Ops runs operator commands against one JetStream account.
type Ops struct {
	js  jetstream.JetStream
	log *zap.Logger
	now func() time.Time
}

// New returns an Ops on js. A nil log means zap.NewNop(). The streams must
// exist (bus.Ensure); Ops never creates or changes topology.
func New(js jetstream.JetStream, log *zap.Logger) *Ops {
	if log == nil {
		log = zap.NewNop()
	}
	return &Ops{js: js, log: log, now: time.Now}
}

// ErrInvalid marks a bad argument (segment, ticket, filter); the CLI maps it
// to a usage error.
var ErrInvalid = errors.New("invalid argument")

var (
	segmentRe = regexp.MustCompile(`^[a-z0-9_-]+$`)
	ticketRe  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

func checkSegment(s string, required bool) error {
	if s == "" && !required {
		return nil
	}
	if !segmentRe.MatchString(s) {
		return fmt.Errorf("%w: segment %q: want [a-z0-9_-]+", ErrInvalid, s)
	}
	return nil
}

func checkTicket(t string) error {
	if !ticketRe.MatchString(t) {
		return fmt.Errorf("%w: ticket %q: want 1-64 of [A-Za-z0-9_-] (it becomes part of Nats-Msg-Id)", ErrInvalid, t)
	}
	return nil
}

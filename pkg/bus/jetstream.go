package bus

import (
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultPublishAsyncTimeout is how long an async publish waits for its
// ack before its future fails with jetstream.ErrAsyncPublishTimeout. A
// healthy R3 stream acks in milliseconds; without a timeout, a publish sent
// to a stream whose leader died waits forever.
const DefaultPublishAsyncTimeout = 10 * time.Second

// NewJetStream returns the JetStream handle every contactsync process uses:
// an API call whose context has no deadline times out after
// DefaultCallTimeout, and an async publish fails with
// jetstream.ErrAsyncPublishTimeout after DefaultPublishAsyncTimeout instead
// of waiting forever for a stream without a leader (resend it with the same
// Nats-Msg-Id: the stream deduplicates it if the first one landed). opts
// are applied after these, so they may override them (for example
// jetstream.WithPublishAsyncMaxPending).
func NewJetStream(nc *nats.Conn, opts ...jetstream.JetStreamOpt) (jetstream.JetStream, error) {
	base := []jetstream.JetStreamOpt{
		jetstream.WithDefaultTimeout(DefaultCallTimeout),
		jetstream.WithPublishAsyncTimeout(DefaultPublishAsyncTimeout),
	}
	return jetstream.New(nc, append(base, opts...)...)
}

// RedactURLs returns a NATS_URL (one URL or several, comma-separated) with
// any password or token replaced by "xxxxx", for error messages and logs.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		if err != nil || u.User == nil {
			parts[i] = p
			continue
		}
		if _, hasPassword := u.User.Password(); hasPassword {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			u.User = url.User("xxxxx") // a token
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

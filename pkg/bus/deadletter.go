package bus

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Dead-letter headers. Producer headers (Cs-External-Id, …) are kept too.
const (
	HeaderOrigSubject  = "Cs-Orig-Subject"  // contacts.delta.<segment>.<key>: where a replay publishes
	HeaderOrigStream   = "Cs-Orig-Stream"   // CONTACTS, or CONFLICTS for a conflict event
	HeaderOrigSeq      = "Cs-Orig-Seq"      // stream sequence of the original
	HeaderErrorCode    = "Cs-Error-Code"    // Salesforce errorCode, or a contactsync code such as INVALID_DELTA
	HeaderErrorMessage = "Cs-Error-Message" // the reason, one line
	HeaderDeliveries   = "Cs-Deliveries"    // delivery count when it was given up
	HeaderFailedAt     = "Cs-Failed-At"     // RFC 3339 UTC
)

// maxMessageLen bounds Cs-Error-Message; Salesforce messages are short, but a
// header must not carry a whole HTML error page.
const maxMessageLen = 1024

// DeadLetter is a delta given up on, with why.
type DeadLetter struct {
	Subject    string      // original subject (OriginalSubject of the stored one; a stored one is accepted too)
	Data       []byte      // the delta as published
	Header     nats.Header // the producer's headers; Nats-* headers are dropped
	ErrorCode  string
	Message    string
	Deliveries uint64
	Stream     string // the stream it was consumed from; "" = CONTACTS
	StreamSeq  uint64 // sequence in Stream; makes the dead letter idempotent
}

// PublishDeadLetter stores dl in the DLQ stream on contacts.dlq.<segment>.
// With StreamSeq set, its Nats-Msg-Id is dlq:<stream>:<seq> (CONTACTS or
// CONFLICTS), so publishing the same dead letter again (a worker crashed
// before terminating the original) stores it once.
func PublishDeadLetter(ctx context.Context, js jetstream.JetStream, dl DeadLetter) error {
	if dl.Stream == "" {
		dl.Stream = StreamContacts
	}
	orig := OriginalSubject(dl.Subject)
	seg := SegmentOf(orig)
	if seg == "" {
		seg = "unknown"
	}
	m := nats.NewMsg(DLQSubject(seg))
	m.Data = dl.Data
	for k, vs := range dl.Header {
		if strings.HasPrefix(strings.ToLower(k), "nats-") {
			continue // server-interpreted (Nats-Msg-Id, Nats-Expected-*, …): would dedup or fail the DLQ publish
		}
		m.Header[k] = append([]string(nil), vs...)
	}
	m.Header.Set(HeaderOrigSubject, orig)
	m.Header.Set(HeaderOrigStream, dl.Stream)
	if dl.StreamSeq > 0 {
		m.Header.Set(HeaderOrigSeq, strconv.FormatUint(dl.StreamSeq, 10))
	}
	m.Header.Set(HeaderErrorCode, oneLine(dl.ErrorCode, 128))
	m.Header.Set(HeaderErrorMessage, oneLine(dl.Message, maxMessageLen))
	m.Header.Set(HeaderDeliveries, strconv.FormatUint(dl.Deliveries, 10))
	m.Header.Set(HeaderFailedAt, time.Now().UTC().Format(time.RFC3339Nano))

	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(StreamDLQ)}
	if dl.StreamSeq > 0 {
		opts = append(opts, jetstream.WithMsgID(fmt.Sprintf("dlq:%s:%d", dl.Stream, dl.StreamSeq)))
	} else if id := dl.Header.Get(jetstream.MsgIDHeader); id != "" {
		opts = append(opts, jetstream.WithMsgID("dlq:"+id))
	}
	if _, err := js.PublishMsg(ctx, m, opts...); err != nil {
		return fmt.Errorf("bus: publish dead letter to %s: %w", m.Subject, err)
	}
	return nil
}

// oneLine makes s a safe header value: no CR/LF/control characters, at most
// limit bytes (cut on a rune boundary).
func oneLine(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/delta"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	e   *bus.Embedded
	js  jetstream.JetStream
	ops *Ops
	ctx context.Context
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e, js := bustest.Start(t, bus.Topology{Storage: jetstream.MemoryStorage})
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	t.Cleanup(cancel)
	return &fixture{e: e, js: js, ops: New(js, nil), ctx: ctx}
}

// publishDelta publishes a delta as the producer does and returns its
// CONTACTS sequence.
func (f *fixture) publishDelta(t *testing.T, segment, id string, version int64) uint64 {
	t.Helper()
	return f.publishFields(t, segment, id, version, map[string]any{"LastName": "Doe " + id, "Email": id + "@example.com"})
}

// publishFields publishes a delta with fields as the producer does and
// returns its CONTACTS sequence; a duplicate fails the test.
func (f *fixture) publishFields(t *testing.T, segment, id string, version int64, fields map[string]any) uint64 {
	t.Helper()
	d := delta.Delta{Schema: delta.SchemaV1, ExternalID: id, Segment: segment, Version: version, Fields: fields}
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(d.Subject())
	m.Data = data
	m.Header.Set(delta.HeaderExternalID, id)
	ack, err := f.js.PublishMsg(f.ctx, m, jetstream.WithMsgID(d.MsgID()))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Duplicate {
		t.Fatalf("delta %s:%d was a duplicate", id, version)
	}
	return ack.Sequence
}

// deadLetter publishes a delta, then dead-letters it as the upserter does,
// and returns the DLQ sequence.
func (f *fixture) deadLetter(t *testing.T, segment, id string, version int64, code, msg string) uint64 {
	t.Helper()
	seq := f.publishDelta(t, segment, id, version)
	s := f.stream(t, bus.StreamContacts)
	stored, err := s.GetMsg(f.ctx, seq)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.PublishDeadLetter(f.ctx, f.js, bus.DeadLetter{Subject: stored.Subject, Data: stored.Data, Header: stored.Header,
		ErrorCode: code, Message: msg, Deliveries: 3, StreamSeq: seq}); err != nil {
		t.Fatal(err)
	}
	info, err := f.stream(t, bus.StreamDLQ).Info(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

func (f *fixture) stream(t *testing.T, name string) jetstream.Stream {
	t.Helper()
	s, err := f.js.Stream(f.ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) msgs(t *testing.T, name string) uint64 {
	t.Helper()
	info, err := f.stream(t, name).Info(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// storedAfter returns the CONTACTS messages with a sequence above after.
func (f *fixture) storedAfter(t *testing.T, after uint64) []*jetstream.RawStreamMsg {
	t.Helper()
	s := f.stream(t, bus.StreamContacts)
	info, err := s.Info(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := after + 1; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(f.ctx, seq)
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

func (f *fixture) lastSeq(t *testing.T, name string) uint64 {
	t.Helper()
	info, err := f.stream(t, name).Info(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// storedSubject is where CONTACTS stores a delta of segment and id.
func storedSubject(segment, id string) string {
	key := delta.ContactKey(id)
	return fmt.Sprintf("contacts.delta.%s.%d.%s", segment, bus.Partition(key, 16), key)
}

package producer

import (
	"encoding/json"
	"net/textproto"
	"reflect"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/delta"
)

// Message carries what the stream and the tools read: the payload decodes
// back to the delta, and each header is found under its canonical name
// (nats.Header.Get canonicalises the name it looks up, so a header stored
// under another spelling would be invisible).
func TestMessageHeadersAndPayload(t *testing.T) {
	d := delta.Delta{Schema: delta.SchemaV1, ExternalID: "MC<1>", Segment: "emea", Version: 7,
		Fields: map[string]any{"Email": "jane@example.com", "Age__c": json.Number("42")}, Source: "crm"}
	m, err := Message(d)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != d.Subject() {
		t.Errorf("subject %q, want %q", m.Subject, d.Subject())
	}
	for name, want := range map[string]string{delta.HeaderExternalID: "MC<1>", jetstream.MsgIDHeader: "MC<1>:7",
		jetstream.ExpectedStreamHeader: bus.StreamContacts} {
		if got := m.Header.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	for k := range m.Header {
		if textproto.CanonicalMIMEHeaderKey(k) != k {
			t.Errorf("header %q is not in canonical form", k)
		}
	}
	got, err := delta.Decode(m.Data)
	if err != nil {
		t.Fatalf("payload %s: %v", m.Data, err)
	}
	if !reflect.DeepEqual(got, d) {
		t.Errorf("payload decodes to %#v, want %#v", got, d)
	}
}

package ops

import (
	"encoding/json"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/contactsync/contactsync/pkg/telemetry"
)

// piiFields are the Contact fields whose values are personal data shown
// masked by default in dead letters (emails are masked wherever they occur).
var piiFields = map[string]bool{
	"firstname": true, "lastname": true, "name": true, "email": true, "phone": true,
	"mobilephone": true, "homephone": true, "mailingstreet": true, "birthdate": true,
}

// maskValue keeps the first character: "Smith" → "S***".
func maskValue(s string) string {
	for _, r := range s {
		return string(r) + "***"
	}
	return s
}

// maskText masks emails and cuts long text, for messages and headers.
func maskText(s string) string {
	s = telemetry.MaskEmails(s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// Redacted returns dl with personal data masked: emails in the message and
// headers, and the values of name, email and phone fields in the payload.
// The CLI shows dead letters this way unless --show-pii.
func (dl DeadLetter) Redacted() DeadLetter {
	dl.Message = maskText(dl.Message)
	if dl.Header != nil {
		h := nats.Header{}
		for k, vs := range dl.Header {
			for _, v := range vs {
				h.Add(k, maskText(v))
			}
		}
		dl.Header = h
	}
	if dl.Data != nil {
		dl.Data = redactPayload(dl.Data)
	}
	return dl
}

func redactPayload(data []byte) []byte {
	var d map[string]any
	if json.Unmarshal(data, &d) != nil {
		return []byte(maskText(string(data)))
	}
	if fields, ok := d["fields"].(map[string]any); ok {
		for k, v := range fields {
			if s, ok := v.(string); ok && piiFields[strings.ToLower(k)] {
				fields[k] = maskValue(s)
			}
		}
	}
	out, err := json.Marshal(d)
	if err != nil {
		return []byte(maskText(string(data)))
	}
	return []byte(telemetry.MaskEmails(string(out)))
}

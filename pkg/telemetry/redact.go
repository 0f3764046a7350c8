package telemetry

import (
	"fmt"
	"regexp"
	"unicode/utf8"
)

// quotedValue matches the refusals in which Salesforce quotes the value it
// refused (the emulator words them the same way): the value is personal
// data as often as not (a name too long for its field, a malformed address,
// a phone number that is no number), so it is replaced by its length.
var quotedValue = regexp.MustCompile(`(data value too large: |invalid email address: |bad value for restricted picklist field: |value not of required type: )(.*?)( \(max length=\d+\)|$|;|\n)`)

// maxRedacted caps a redacted message: a 200 KB value in a message is
// nobody's help in a log line or a dead letter's header.
const maxRedacted = 2000

// Redact prepares a message for a log line, a dead letter's reason or CLI
// output: the values Salesforce quotes in its refusals become "[N
// characters]", every email address left is masked (MaskEmails), and the
// result is at most 2,000 bytes (cut on a character boundary, marked).
func Redact(s string) string {
	s = quotedValue.ReplaceAllStringFunc(s, func(m string) string {
		p := quotedValue.FindStringSubmatch(m)
		return p[1] + fmt.Sprintf("[%d characters]", utf8.RuneCountInString(p[2])) + p[3]
	})
	s = MaskEmails(s)
	if len(s) > maxRedacted {
		cut := maxRedacted
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = fmt.Sprintf("%s… [%d bytes cut]", s[:cut], len(s)-cut)
	}
	return s
}

// Package synth generates realistic contact deltas for demos, tests and
// benchmarks: several updates per contact published out of order, email
// changes, names and emails with quotes and non-Latin letters, a small share
// of invalid rows, and (for an emulated org) pre-existing contacts that
// collide with incoming emails so every conflict policy has work to do.
package synth

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/delta"
)

// Options shape a generated data set. Zero values take the defaults.
type Options struct {
	Contacts int      // distinct contacts; default 10,000
	Seed     uint64   // default 1
	Segments []string // default emea, amer, apac
	// MaxUpdates is the most extra versions per contact (0..MaxUpdates, uniform). Default 3; -1 = none.
	MaxUpdates int
	// InvalidRate is the share of rows that are invalid (half rejected at
	// ingest, half refused by Salesforce). Default 0.01; negative = none.
	InvalidRate float64
	// ConflictRate is the share of contacts whose email already belongs to a
	// Salesforce contact with another external ID (see Seed). Default 0.02; negative = none.
	ConflictRate float64
	// UnlinkedRate is the share whose email belongs to a contact with no
	// external ID yet (adoption). Default 0.01; negative = none.
	UnlinkedRate float64
	// ShuffleWindow is how far deltas may move from version order. Default 500.
	ShuffleWindow int
}

// Row is one line of input: a delta as JSON (possibly invalid).
type Row struct {
	Data []byte
}

// Existing is a contact that already exists in Salesforce before the run.
type Existing struct {
	Fields map[string]any // LastName, Email and, when linked, External_Contact_ID__c
}

// Set is a generated data set.
type Set struct {
	Rows     []Row
	Existing []Existing // to seed into an emulated org
}

var (
	firstNames = []string{"Jane", "John", "Zoë", "José", "Łukasz", "Ørjan", "Анна", "Дмитрий", "美咲", "Nguyễn", "Siobhán", "D'Arcy", "O'Brien", "Mary-Kate", "Søren", "Ana \"Nana\""}
	lastNames  = []string{"Doe", "O'Neil", "Müller", "García", "Smith", "Иванова", "山田", "Nuñez", "D'Angelo", "Backslash\\Jones", "Lee", "Østergaard", "Ben-David", "Kowalski"}
	titles     = []string{"CMO", "Marketing Manager", "VP Sales", "Buyer", "Director, Growth", "Head of \"Demand\"", ""}
	domains    = []string{"example.com", "example.org", "acme.io", "müller.de", "mail.example.net"}
)

// Generate builds a data set.
func Generate(o Options) Set {
	if o.Contacts <= 0 {
		o.Contacts = 10000
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if len(o.Segments) == 0 {
		o.Segments = []string{"emea", "amer", "apac"}
	}
	if o.MaxUpdates == 0 {
		o.MaxUpdates = 3
	}
	o.InvalidRate = orDefault(o.InvalidRate, 0.01)
	o.ConflictRate = orDefault(o.ConflictRate, 0.02)
	o.UnlinkedRate = orDefault(o.UnlinkedRate, 0.01)
	if o.ShuffleWindow <= 0 {
		o.ShuffleWindow = 500
	}
	r := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	var set Set
	for i := 0; i < o.Contacts; i++ {
		id := externalID(r, i)
		seg := o.Segments[r.IntN(len(o.Segments))]
		first, last := pick(r, firstNames), pick(r, lastNames)
		email := fmt.Sprintf("%s.%s.%d@%s", slug(first), slug(last), i, pick(r, domains))
		switch x := r.Float64(); {
		case x < o.ConflictRate:
			set.Existing = append(set.Existing, Existing{Fields: map[string]any{
				"LastName": last, "FirstName": first, "Email": email, "External_Contact_ID__c": fmt.Sprintf("LEGACY-%06d", i)}})
		case x < o.ConflictRate+o.UnlinkedRate:
			set.Existing = append(set.Existing, Existing{Fields: map[string]any{"LastName": last, "Email": email}})
		}
		updates := 0
		if o.MaxUpdates > 0 {
			updates = r.IntN(o.MaxUpdates + 1)
		}
		version := base + int64(i)*1000
		title := pick(r, titles)
		for v := 0; v <= updates; v++ {
			if v > 0 {
				version += int64(1 + r.IntN(1_000_000))
				switch r.IntN(3) {
				case 0:
					email = fmt.Sprintf("%s.%d.v%d@%s", slug(first), i, v, pick(r, domains)) // email change
				case 1:
					title = pick(r, titles)
				}
			}
			fields := map[string]any{"FirstName": first, "LastName": last, "Email": email}
			if title != "" {
				fields["Title"] = title
			}
			d := delta.Delta{Schema: delta.SchemaV1, ExternalID: id, Segment: seg, Version: version,
				Fields: fields, Source: "synth", EmittedAt: time.UnixMicro(version).UTC()}
			set.Rows = append(set.Rows, Row{Data: corrupt(r, d, o.InvalidRate)})
		}
	}
	shuffle(r, set.Rows, o.ShuffleWindow)
	return set
}

// corrupt returns d as JSON, and with probability rate breaks it: half of the
// broken rows fail at ingest, half are refused by Salesforce.
func corrupt(r *rand.Rand, d delta.Delta, rate float64) []byte {
	if r.Float64() >= rate {
		b, _ := json.Marshal(d)
		return b
	}
	switch r.IntN(6) {
	case 0:
		d.ExternalID = "" // ingest: missing external ID
	case 1:
		d.Segment = "EMEA West" // ingest: bad segment token
	case 2:
		b, _ := json.Marshal(d)
		return b[:len(b)/2] // ingest: malformed JSON
	case 3:
		d.Fields["Email"] = "not-an-email" // Salesforce: INVALID_EMAIL_ADDRESS
	case 4:
		d.Fields["LastName"] = strings.Repeat("x", 81) // Salesforce: STRING_TOO_LONG
	case 5:
		d.Fields["Shoe_Size__c"] = 42 // Salesforce: INVALID_FIELD
	}
	b, _ := json.Marshal(d)
	return b
}

// shuffle moves rows at most window places, so one contact's versions arrive
// out of order but near each other, as from a real change feed.
func shuffle(r *rand.Rand, rows []Row, window int) {
	for start := 0; start < len(rows); start += window {
		end := min(start+window, len(rows))
		r.Shuffle(end-start, func(i, j int) { rows[start+i], rows[start+j] = rows[start+j], rows[start+i] })
	}
}

func externalID(r *rand.Rand, i int) string {
	switch i % 50 {
	case 7:
		return fmt.Sprintf("MC/%d.a b", i) // slash, dot and space
	case 13:
		return fmt.Sprintf("MC*%d>x", i) // subject wildcards
	case 29:
		return fmt.Sprintf("МС-%d", i) // non-Latin
	}
	return fmt.Sprintf("MC_%07d", i)
}

func pick(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

// slug makes an email-safe local part from a name, keeping quotes and
// non-Latin letters out (they are valid in names, not in our email domain).
func slug(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		} else if c == '\'' {
			b.WriteString("'") // O'Brien → o'brien: a quote that SOQL must escape
		}
	}
	if b.Len() == 0 {
		return "x"
	}
	return b.String()
}

func orDefault(v, d float64) float64 {
	switch {
	case v == 0:
		return d
	case v < 0:
		return 0
	}
	return v
}

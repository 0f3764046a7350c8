package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The kinds of generated contacts.
const (
	kindNormal   = "normal"   // 1..MaxVersions versions, some with special external IDs
	kindMixed    = "mixed"    // versions spelled MC_n / mc_n / Mc_n: one contact to Salesforce
	kindConflict = "conflict" // email already on a seeded contact with another external ID: held (strict)
	kindAdopt    = "adopt"    // email already on a seeded contact without external ID: adopted
	kindInvalid  = "invalid"  // one delta Salesforce refuses: DLQ
)

// markerPrefix starts the Description of every generated delta; the rest is
// the delta's version, so every write says which version it carries.
const markerPrefix = "v="

// genOptions shape the generated data set.
type genOptions struct {
	Contacts      int
	Seed          uint64
	MaxVersions   int
	ConflictRate  float64
	AdoptRate     float64
	MixedCaseRate float64
	InvalidRate   float64
	RejectRate    float64
	LateRate      float64
	ShuffleWindow int
}

// expectation is what Salesforce must hold for one contact (by folded
// external ID) at the end.
type expectation struct {
	Kind      string
	Spellings []string // raw external IDs used by its deltas
	Newest    int64    // newest version among its valid deltas
	Versions  []int64
	SeedExtID string // conflict: the seeded contact's external ID
	Email     string // conflict/adopt: the colliding email
	DLQCode   string // invalid: the errorCode Salesforce answers
}

// genRow is one input line.
type genRow struct {
	Line    []byte
	Key     string // folded external ID ("" for rows without one)
	ExtID   string
	Version int64
	Reject  bool // the producer must refuse it at ingest
	Late    bool // moved far behind its neighbours
}

// seedContact is a contact created in the emulator before the run.
type seedContact struct {
	Fields map[string]any
	For    string // folded key of the generated contact it collides with
}

// dataSet is the generated input with everything the checks expect.
type dataSet struct {
	Rows     []genRow
	Expect   map[string]*expectation // by folded external ID
	Seeds    []seedContact
	Rejected map[string]bool // rejectKey(key, version) of rows refused at ingest
	// Counts.
	Valid, Rejects, Invalid, Conflicts, Adopts, Mixed, Special int
}

var (
	firstNames = []string{"Jane", "John", "Zoë", "José", "Łukasz", "Ørjan", "Анна", "Дмитрий", "美咲", "Nguyễn", "Siobhán", "D'Arcy", "O'Brien", "Mary-Kate", "Ana \"Nana\""}
	lastNames  = []string{"Doe", "O'Neil", "Müller", "García", "Smith", "Иванова", "山田", "Nuñez", "D'Angelo", "Backslash\\Jones", "Lee", "Østergaard", "Ben-David"}
	titles     = []string{"CMO", "Marketing Manager", "VP Sales", "Buyer", "Director, Growth", "Head of \"Demand\""}
	segments   = []string{"emea", "amer", "apac"}
)

// fold is how Salesforce compares external IDs (case-insensitive), and how
// the emulator folds them.
func fold(extID string) string { return strings.ToLower(extID) }

// marker is the Description value that carries version v.
func marker(v int64) string { return markerPrefix + strconv.FormatInt(v, 10) }

// parseMarker returns the version in a Description, or 0.
func parseMarker(s string) int64 {
	rest, ok := strings.CutPrefix(s, markerPrefix)
	if !ok {
		return 0
	}
	v, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// specialID gives every 8th normal contact an external ID that exercises
// subject encoding, SOQL escaping and case folding of non-ASCII letters.
func specialID(i int) (string, bool) {
	switch i % 64 {
	case 3:
		return fmt.Sprintf(`CH "q" %d`, i), true // double quotes and spaces
	case 11:
		return fmt.Sprintf("CH 'o'%d", i), true // single quote
	case 19:
		return fmt.Sprintf("CH %d a b", i), true // spaces
	case 27:
		return fmt.Sprintf("ЧС-%d", i), true // non-ASCII (folds to чс-)
	case 35:
		return fmt.Sprintf("CH/%d.x*>", i), true // slash, dot, subject wildcards
	case 43:
		return fmt.Sprintf("CH_%d_Ü", i), true // non-ASCII upper case
	case 51:
		return fmt.Sprintf(`CH\%d=`, i), true // backslash and '=' (the key escape byte)
	case 59:
		return fmt.Sprintf("CH_%d_%s", i, "ß"), true
	}
	return fmt.Sprintf("CH_%07d", i), false
}

// generate builds the data set. It is deterministic for a seed.
func generate(o genOptions) *dataSet {
	r := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed5eed5eed5eed))
	ds := &dataSet{Expect: map[string]*expectation{}, Rejected: map[string]bool{}}
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	var rows []genRow
	add := func(extID, seg string, version int64, fields map[string]any) {
		d := map[string]any{"schema": "contact.delta/v1", "external_id": extID, "segment": seg, "version": version,
			"fields": fields, "source": "chaos", "emitted_at": time.UnixMicro(version).UTC().Format(time.RFC3339Nano)}
		b, _ := json.Marshal(d)
		rows = append(rows, genRow{Line: b, Key: fold(extID), ExtID: extID, Version: version})
	}
	for i := 0; i < o.Contacts; i++ {
		seg := segments[r.IntN(len(segments))]
		first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
		versions := 1 + r.IntN(o.MaxVersions)
		e := &expectation{Kind: kindNormal}
		var spell []string
		email := fmt.Sprintf("c%d.v0@example.com", i)
		x := r.Float64()
		switch {
		case x < o.InvalidRate:
			e.Kind, versions = kindInvalid, 1
			spell = []string{fmt.Sprintf("BAD_%07d", i)}
		case x < o.InvalidRate+o.ConflictRate:
			e.Kind = kindConflict
			spell = []string{fmt.Sprintf("CF_%07d", i)}
			email = fmt.Sprintf("cf%d@example.org", i)
			e.SeedExtID, e.Email = fmt.Sprintf("LEGACY-%07d", i), email
		case x < o.InvalidRate+o.ConflictRate+o.AdoptRate:
			e.Kind = kindAdopt
			spell = []string{fmt.Sprintf("AD_%07d", i)}
			email = fmt.Sprintf("ad%d@example.org", i)
			e.Email = email
		case x < o.InvalidRate+o.ConflictRate+o.AdoptRate+o.MixedCaseRate:
			e.Kind = kindMixed
			versions = max(2, versions)
			n := fmt.Sprintf("%07d", i)
			spell = []string{"MC_" + n, "mc_" + n, "Mc_" + n}
		default:
			id, special := specialID(i)
			if special {
				ds.Special++
			}
			spell = []string{id}
		}
		key := fold(spell[0])
		version := base + int64(i)*10_000
		title := titles[r.IntN(len(titles))]
		for v := 0; v < versions; v++ {
			if v > 0 {
				version += int64(1 + r.IntN(1_000_000))
				switch r.IntN(3) {
				case 0:
					if e.Kind == kindNormal || e.Kind == kindMixed {
						email = fmt.Sprintf("c%d.v%d@example.com", i, v) // email change
					}
				case 1:
					title = titles[r.IntN(len(titles))]
				}
			}
			extID := spell[v%len(spell)]
			fields := map[string]any{"FirstName": first, "LastName": last, "Email": email, "Title": title,
				"Description": marker(version)}
			if e.Kind == kindInvalid {
				switch i % 3 {
				case 0:
					fields["Email"], e.DLQCode = "not-an-email", "INVALID_EMAIL_ADDRESS"
				case 1:
					fields["LastName"], e.DLQCode = strings.Repeat("x", 81), "STRING_TOO_LONG"
				case 2:
					fields["Shoe_Size__c"], e.DLQCode = 42, "INVALID_FIELD"
				}
			}
			add(extID, seg, version, fields)
			e.Versions = append(e.Versions, version)
			e.Newest = version
		}
		e.Spellings = spell
		ds.Expect[key] = e
		switch e.Kind {
		case kindConflict:
			ds.Conflicts++
			ds.Seeds = append(ds.Seeds, seedContact{For: key, Fields: map[string]any{"LastName": last, "FirstName": first,
				"Email": email, "External_Contact_ID__c": e.SeedExtID, "Description": "seed"}})
		case kindAdopt:
			ds.Adopts++
			ds.Seeds = append(ds.Seeds, seedContact{For: key, Fields: map[string]any{"LastName": last, "Email": email, "Description": "seed"}})
		case kindInvalid:
			ds.Invalid++
		case kindMixed:
			ds.Mixed++
		}
		// Rows the producer must refuse; some name this contact with a newer
		// version, so one that slipped through would show in Salesforce.
		if r.Float64() < o.RejectRate {
			rows = append(rows, rejectRow(r, i, spell[0], seg, version+7, ds))
		}
	}
	windowShuffle(r, rows, o.ShuffleWindow)
	lateMoves(r, rows, o.LateRate, ds.Expect)
	ds.Rows = rows
	for _, row := range rows {
		if !row.Reject {
			ds.Valid++
		}
	}
	return ds
}

// rejectRow makes a line delta.Decode refuses, in one of six ways.
func rejectRow(r *rand.Rand, i int, extID, seg string, version int64, ds *dataSet) genRow {
	ds.Rejects++
	ds.Rejected[rejectKey(fold(extID), version)] = true
	d := map[string]any{"schema": "contact.delta/v1", "external_id": extID, "segment": seg, "version": version,
		"fields": map[string]any{"LastName": "Rejected", "Description": marker(version)}}
	switch r.IntN(6) {
	case 0:
		d["external_id"] = "" // missing external ID
	case 1:
		d["segment"] = "EMEA West" // not a subject-safe segment
	case 2:
		b, _ := json.Marshal(d)
		return genRow{Line: b[:len(b)/2], Reject: true, Version: version} // malformed JSON
	case 3:
		d["version"] = 0 // not a positive version
	case 4:
		d["colour"] = "blue" // unknown key
	case 5:
		d["fields"].(map[string]any)["Id"] = "003000000000001AAA" // Id may not be set
	}
	b, _ := json.Marshal(d)
	id, _ := d["external_id"].(string)
	return genRow{Line: b, Reject: true, Version: version, ExtID: id, Key: fold(id)}
}

// rejectKey names a refused row by contact and version.
func rejectKey(key string, version int64) string {
	return key + "\x00" + strconv.FormatInt(version, 10)
}

// windowShuffle moves rows at most window places, so one contact's versions
// arrive out of order but near each other, as from a change feed.
func windowShuffle(r *rand.Rand, rows []genRow, window int) {
	for start := 0; start < len(rows); start += window {
		end := min(start+window, len(rows))
		r.Shuffle(end-start, func(i, j int) { rows[start+i], rows[start+j] = rows[start+j], rows[start+i] })
	}
}

// lateMoves moves a share of the rows that are not their contact's newest
// version far towards the end (up to a fifth of the input later), so they
// arrive in a later chunk, usually after the newer version was applied and
// often at another owner of the partition.
func lateMoves(r *rand.Rand, rows []genRow, rate float64, expect map[string]*expectation) {
	if rate <= 0 || len(rows) < 10 {
		return
	}
	span := max(1, len(rows)/5)
	for i := len(rows) - 1; i >= 0; i-- {
		row := rows[i]
		e := expect[row.Key]
		if row.Reject || e == nil || row.Version == e.Newest || r.Float64() >= rate {
			continue
		}
		j := min(len(rows)-1, i+1+r.IntN(span))
		copy(rows[i:j], rows[i+1:j+1])
		row.Late = true
		rows[j] = row
	}
}

// writeChunks splits the rows into n NDJSON files in dir and returns their
// paths and, per file, the line numbers (1-based) of rows to be refused.
func writeChunks(dir string, rows []genRow, n int) ([]string, []map[int]bool, error) {
	n = max(1, min(n, len(rows)))
	var files []string
	var rejects []map[int]bool
	per := (len(rows) + n - 1) / n
	for c := 0; c*per < len(rows); c++ {
		part := rows[c*per : min((c+1)*per, len(rows))]
		var b strings.Builder
		rej := map[int]bool{}
		for i, row := range part {
			b.Write(row.Line)
			b.WriteByte('\n')
			if row.Reject {
				rej[i+1] = true
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("chunk-%03d.ndjson", c))
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			return nil, nil, err
		}
		files = append(files, path)
		rejects = append(rejects, rej)
	}
	return files, rejects, nil
}

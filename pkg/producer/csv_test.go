package producer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/delta"
)

func readAll(t *testing.T, src Source) (good []delta.Delta, bad map[int]string) {
	t.Helper()
	bad = map[int]string{}
	for {
		r, ok := src.Next()
		if !ok {
			break
		}
		if r.Err != nil {
			bad[r.N] = r.Err.Error()
			continue
		}
		good = append(good, r.Delta)
	}
	if err := src.Err(); err != nil {
		t.Fatal(err)
	}
	return good, bad
}

func TestCSVDefaultMapping(t *testing.T) {
	in := "\uFEFFExternal_ID , Segment,version,updated_at,first_name,last_name,email,phone,title,notes\n" +
		"MC_1,emea,7,,Jane,Doe,jane@example.com,+44 20,CTO,hi\n" + // 2
		"MC_2,emea,,2026-11-26T10:00:00.123456Z,John,Roe,,,,\n" + // 3: version from updated_at, empty cells omitted
		"MC_3,emea,x1,,A,B,,,,\n" + // 4: bad version
		",emea,1,,A,B,,,,\n" + // 5: missing external ID
		"MC_5,EMEA,1,,A,B,,,,\n" + // 6: bad segment
		"MC_6,emea,1,,A,B\n" + // 7: wrong number of columns
		"\"MC \"\"7\"\"\",apac,3,,\"Zoë\",\"O'Brien, Jr\",,,,\n" + // 8: quotes
		"MC_8,emea,,,A,B,,,,\n" + // 9: no version at all
		"MC_9,emea,1,,,,,,,x\n" // 10: no field values
	src, err := CSV(strings.NewReader(in), DefaultMapping())
	if err != nil {
		t.Fatal(err)
	}
	if got := src.Ignored(); len(got) != 1 || got[0] != "notes" {
		t.Errorf("ignored %v", got)
	}
	good, bad := readAll(t, src)
	if len(good) != 3 {
		t.Fatalf("good %+v", good)
	}
	if g := good[0]; g.ExternalID != "MC_1" || g.Version != 7 || g.Fields["Email"] != "jane@example.com" || g.Fields["Phone"] != "+44 20" || len(g.Fields) != 5 {
		t.Errorf("row 2: %+v", g)
	}
	wantV := time.Date(2026, 11, 26, 10, 0, 0, 123456000, time.UTC).UnixMicro()
	if g := good[1]; g.Version != wantV || len(g.Fields) != 2 {
		t.Errorf("row 3: %+v (want version %d, 2 fields)", g, wantV)
	}
	if g := good[2]; g.ExternalID != `MC "7"` || g.Fields["LastName"] != "O'Brien, Jr" || g.Segment != "apac" {
		t.Errorf("row 8: %+v", g)
	}
	want := map[int]string{4: "version: ", 5: "external_id: missing", 6: "segment: ", 7: "wrong number of fields", 9: "version: empty", 10: "fields: empty"}
	for n, sub := range want {
		if !strings.Contains(bad[n], sub) {
			t.Errorf("line %d: %q, want %q", n, bad[n], sub)
		}
	}
	if len(bad) != len(want) {
		t.Errorf("bad lines %v", bad)
	}
}

func TestCSVBadQuotesDoNotStop(t *testing.T) {
	in := "external_id,segment,version,last_name\nA,s,1,\"bad\"quote\nB,s,1,ok\n"
	src, err := CSV(strings.NewReader(in), DefaultMapping())
	if err != nil {
		t.Fatal(err)
	}
	good, bad := readAll(t, src)
	if len(good) != 1 || good[0].ExternalID != "B" || !strings.Contains(bad[2], "malformed CSV row") {
		t.Fatalf("good %+v bad %v", good, bad)
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "empty file",
		"id,segment,version,last_name\n":  `no "external_id" column`,
		"external_id,version,last_name\n": `no "segment" column`,
		"external_id,segment,last_name\n": "version",
		"external_id,segment,version,shoe_size\n": "none of the mapped field columns",
	} {
		if _, err := CSV(strings.NewReader(in), DefaultMapping()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CSV(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestMappingFiles(t *testing.T) {
	dir := t.TempDir()
	yml := filepath.Join(dir, "m.yaml")
	os.WriteFile(yml, []byte("external_id: contact_key\ndefault_segment: emea\nupdated_at: modified\nempty: \"null\"\nfields:\n  mail: Email\n  surname: LastName\n  score: Score__c\n"), 0o600)
	m, err := LoadMapping(yml)
	if err != nil {
		t.Fatal(err)
	}
	src, err := CSV(strings.NewReader("contact_key,modified,mail,surname,score\nK1,2026-01-02T03:04:05Z,,Doe,9\n"), m)
	if err != nil {
		t.Fatal(err)
	}
	good, bad := readAll(t, src)
	if len(bad) != 0 || len(good) != 1 {
		t.Fatalf("good %v bad %v", good, bad)
	}
	g := good[0]
	if g.ExternalID != "K1" || g.Segment != "emea" || g.Fields["Email"] != nil || len(g.Fields) != 3 || g.Fields["Score__c"] != "9" {
		t.Errorf("delta %+v", g)
	}
	if _, ok := g.Fields["Email"]; !ok {
		t.Error(`empty: "null" should send Email: null`)
	}

	js := filepath.Join(dir, "m.json")
	os.WriteFile(js, []byte(`{"segment":"region","fields":{"nom":"LastName"}}`), 0o600)
	if m, err = LoadMapping(js); err != nil || m.Segment != "region" || len(m.Fields) != 1 || m.ExternalID != "external_id" {
		t.Fatalf("json mapping %+v %v", m, err)
	}
	for name, doc := range map[string]string{
		"unknown.json":   `{"colour":"red"}`,
		"unknown.yaml":   "colour: red\n",
		"badfield.yaml":  "fields:\n  x: \"Last Name\"\n",
		"badid.yaml":     "fields:\n  x: Id\n",
		"badseg.yaml":    "default_segment: EMEA\n",
		"badempty.yaml":  "empty: blank\n",
		"malformed.json": `{"fields":`,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(doc), 0o600)
		if _, err := LoadMapping(p); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := LoadMapping(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

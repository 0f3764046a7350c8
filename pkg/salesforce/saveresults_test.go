package salesforce

import (
	"encoding/json"
	"reflect"
	"testing"
)

var saveResultSeeds = []string{
	`[]`,
	`[{"id":"003000000000001AAA","success":true,"errors":[],"created":true}]`,
	`[{"id":"003000000000001AAA","success":true,"errors":[],"created":false},{"id":null,"success":false,"errors":[]}]`,
	`[{"success":false,"errors":[{"statusCode":"DUPLICATES_DETECTED","message":"Use one of these records?","fields":[]}]}]`,
	`[{"id":"a\u0041","success":true,"errors":[]}]`,
	`[{"ID":"x","success":true,"errors":[]}]`,
	`[{"id":"x","id":"y","success":true}]`,
	`[{"id":"x","success":true,"warnings":[]}]`,
	`[{"id":"x","success":"true"}]`,
	`[{"id":"x","success":true}] x`,
	` [ { "id" : "x" , "success" : true , "errors" : [ ] } ] `,
	`{"id":"x"}`,
	`null`,
	``,
}

// The fast reader takes the responses Salesforce sends on success, and
// whatever it takes it reads as encoding/json does.
func TestDecodeSaveResultsAgrees(t *testing.T) {
	for i, doc := range saveResultSeeds {
		fast, ok := decodeSaveResults([]byte(doc))
		if i <= 2 && !ok {
			t.Errorf("declined a plain success response %s", doc)
		}
		if !ok {
			continue
		}
		var slow []SaveResult
		if err := json.Unmarshal([]byte(doc), &slow); err != nil {
			t.Errorf("%s: fast read it, encoding/json refuses: %v", doc, err)
			continue
		}
		if !reflect.DeepEqual(fast, slow) && !(len(fast) == 0 && len(slow) == 0) {
			t.Errorf("%s:\nfast %#v\nslow %#v", doc, fast, slow)
		}
	}
	for _, doc := range saveResultSeeds[3:] {
		if doc == saveResultSeeds[10] {
			continue
		}
		if _, ok := decodeSaveResults([]byte(doc)); ok {
			t.Errorf("took %s, which it should leave to encoding/json", doc)
		}
	}
}

func FuzzDecodeSaveResultsAgrees(f *testing.F) {
	for _, doc := range saveResultSeeds {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeSaveResults(data)
		if !ok {
			return
		}
		var slow []SaveResult
		if err := json.Unmarshal(data, &slow); err != nil {
			t.Fatalf("%q: fast read it, encoding/json refuses: %v", data, err)
		}
		if !reflect.DeepEqual(fast, slow) && !(len(fast) == 0 && len(slow) == 0) {
			t.Fatalf("%q:\nfast %#v\nslow %#v", data, fast, slow)
		}
	})
}

// go test -run '^$' -bench SaveResults -benchmem ./pkg/salesforce
func BenchmarkDecodeSaveResults(b *testing.B) {
	rs := make([]SaveResult, MaxCollectionSize)
	for i := range rs {
		rs[i] = SaveResult{ID: "003000000000001AAA", Success: true, Created: i%2 == 0, Errors: []RecordError{}}
	}
	body, _ := json.Marshal(rs)
	b.Run("baseline-encoding-json", func(b *testing.B) {
		for b.Loop() {
			var out []SaveResult
			if err := json.Unmarshal(body, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeSaveResults", func(b *testing.B) {
		for b.Loop() {
			if _, ok := decodeSaveResults(body); !ok {
				b.Fatal("declined")
			}
		}
	})
}

package sfsim

import (
	"reflect"
	"strings"
	"testing"
)

// collBodies are collections bodies at the edges of what fastCollection
// takes; fast says whether it must take them (true) or leave them to
// encoding/json (false).
var collBodies = []struct {
	body string
	fast bool
}{
	{`{"allOrNone":false,"records":[{"attributes":{"type":"Contact"},"External_Contact_ID__c":"A-1","LastName":"Doe","Sync_Version__c":1764770000000000}]}`, true},
	{" \t\r\n{ \"records\" : [ { \"a\" : [ 1 , -2.5e3 , true , false , null , { } , [ ] ] } , null ] , \"allOrNone\" : true } \n", true},
	{`{}`, true},
	{`{"allOrNone":null,"records":null}`, true},
	{`{"records":[]}`, true},
	{`{"records":[{"LastName":"Dup","LastName":"Last wins"}]}`, true},
	{`{"records":[{"n":0,"m":-0,"x":1E+2,"y":0.000001,"z":123456789012345678901234567890}]}`, true},
	{`{"records":[{"s":"caf\u00e9 \"q\" \\ \/ \b\f\n\r\t","t":"café","u":"\ud83d\ude00","v":"\ud800"}]}`, true},
	{"{\"records\":[{\"bad\":\"\xff\xfe\",\"k\xc3\xa9\":\"\\u0041\"}]}", true},
	{`{"records":[{"a":{"b":{"c":{"d":[[[["deep"]]]]}}}}]}`, true},
	// values shared between records that repeat their bytes
	{`{"records":[{"attributes":{"type":"Contact"},"T":"A","E":"\u00e9","N":1},` +
		`{"attributes":{"type":"Contact"},"T":"A","E":"\u00e9","N":1},` +
		`{"attributes":{"type":"Contact","url":"x"},"T":"AB","E":"\u00e8","N":12},` +
		`{"attributes":{"type":"Contact"} ,"T":"A" ,"E":"é","N":1.5}]}`, true},

	{``, false},
	{`   `, false},
	{`null`, false},
	{`[]`, false},
	{`{`, false},
	{`{"records":[}`, false},
	{`{"records":[{"a":1,}]}`, false},
	{`{"records":[{"a":01}]}`, false},
	{`{"records":[{"a":1.}]}`, false},
	{`{"records":[{"a":.5}]}`, false},
	{`{"records":[{"a":1e}]}`, false},
	{`{"records":[{"a":+1}]}`, false},
	{`{"records":[{"a":1e400}]}`, false},
	{`{"records":[{"a":NaN}]}`, false},
	{`{"records":[{"a":tru}]}`, false},
	{`{"records":[{"a":truex}]}`, false},
	{"{\"records\":[{\"a\":\"tab\there\"}]}", false},
	{`{"records":[{"a":"\x"}]}`, false},
	{`{"records":[{"a":"open}]}`, false},
	{`{"records":[1]}`, false},
	{`{"records":["x"]}`, false},
	{`{"records":{}}`, false},
	{`{"allOrNone":"true"}`, false},
	{`{"allOrNone":1}`, false},
	{`{"Records":[]}`, false},
	{`{"ALLORNONE":true}`, false},
	{`{"records":[],"records":[]}`, false},
	{`{"records":[{"a":1}],"records":[{"b":2}]}`, false},
	{`{"other":1}`, false},
	{`{"records":[]}}`, false},
	{`{"records":[]} {}`, false},
	{`{"records":[]}x`, false},
	{"\ufeff{\"records\":[]}", false},
	{`{"records":[{"a":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}]}`, false},
}

// TestFastCollectionMatchesEncodingJSON: whatever fastCollection takes, it
// decodes as decodeBody (encoding/json) does; what it leaves goes there.
func TestFastCollectionMatchesEncodingJSON(t *testing.T) {
	for _, tc := range collBodies {
		got, ok := fastCollection([]byte(tc.body))
		if ok != tc.fast {
			t.Errorf("fastCollection(%q) ok = %v, want %v", tc.body, ok, tc.fast)
		}
		checkFastCollection(t, tc.body, got, ok)
	}
}

func checkFastCollection(t *testing.T, body string, got collectionBody, ok bool) {
	t.Helper()
	if !ok {
		return
	}
	var want collectionBody
	if err := decodeBody([]byte(body), &want); err != nil {
		t.Fatalf("fastCollection took %q, which encoding/json refuses: %v", body, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fastCollection(%q)\n = %#v\nwant %#v", body, got, want)
	}
}

// FuzzFastCollection checks the same on arbitrary bodies.
func FuzzFastCollection(f *testing.F) {
	for _, tc := range collBodies {
		f.Add(tc.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, ok := fastCollection([]byte(body))
		checkFastCollection(t, body, got, ok)
	})
}

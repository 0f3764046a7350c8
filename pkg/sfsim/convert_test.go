package sfsim

import (
	"maps"
	"reflect"
	"testing"
)

// TestConvertOwnedMatchesConvert: converting a record in place gives
// convert's values and error.
func TestConvertOwnedMatchesConvert(t *testing.T) {
	m, err := compileSchema(DefaultSchema())
	if err != nil {
		t.Fatal(err)
	}
	o := m.object("Contact")
	attrs := map[string]any{"type": "Contact"}
	cases := []map[string]any{
		{"attributes": attrs, "LastName": "Doe", "Email": " Ann@Example.COM ", "Sync_Version__c": 1.5e15, "External_Contact_ID__c": "A-1"},
		{"LastName": "Doe", "FirstName": "", "Title": 12.0, "MailingCity": true, "Phone": nil},
		{"attributes": attrs, "lastname": "lower-case key: convert's path"},
		{"attributes": attrs, "LastName": "X", "Nope__c": 1.0},
		{"LastName": "X", "CreatedDate": "2020-01-01", "Id": "003000000000001AAA"},
		{"LastName": "X", "Sync_Version__c": "not a number"},
		{"LastName": "X", "Sync_Version__c": " 42 ", "HasOptedOutOfEmail": "true"},
		{"LastName": map[string]any{"a": 1.0}},
		{"AccountId": "bad-id", "LastName": "X"},
		{"AccountId": "001000000000001", "LastName": "X"},
	}
	checked := 0
	for _, raw := range cases {
		want, werr := o.convert(maps.Clone(raw))
		got, gerr := o.convertOwned(maps.Clone(raw))
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gerr, werr) {
			t.Errorf("%v:\n convertOwned = %v, %v\n convert      = %v, %v", raw, got, gerr, want, werr)
		}
		if werr != nil {
			checked++
		}
	}
	if checked < 4 {
		t.Errorf("only %d cases fail conversion: the table no longer tests errors", checked)
	}
}

package formula_test

import (
	"errors"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim/formula"
)

// FuzzCompile: compiling never panics, every refusal is a *formula.Error,
// and a formula that compiles evaluates without panicking against inserts
// and updates of blank and filled records, typed and untyped.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		immutable,
		monotonic,
		`AND(ISBLANK(Phone), BEGINS(Title, "VP"))`,
		`AND(NOT(ISBLANK(Email)), NOT(REGEX(Email, "[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}")))`,
		`AND(ISCHANGED(Title), PRIORVALUE(Title) = "CEO", NOT($Permission.Contact_Sync_Integration))`,
		`OR(LEN(Phone) < 7, NOT(REGEX(Phone, "\\+?[0-9 ()-]+")))`,
		`IF(ISNEW(), Score__c > 100, Score__c > PRIORVALUE(Score__c) * 2)`,
		`ISPICKVAL(Kind__c, "Rekeyed") && ISBLANK(TEXT(PRIORVALUE(Kind__c)))`,
		`VALUE(TEXT(Sync_Version__c)) <> Sync_Version__c`,
		`Do_Not_Call__c && !ISBLANK(Phone) || CONTAINS(Title, 'Test')`,
		`/* comment */ $User.Username = "integration@example.com"`,
		`Birthdate > PRIORVALUE(Birthdate) && LastModifiedDate <> PRIORVALUE(LastModifiedDate)`,
		`-Score__c / 3 + 2 * (1 - Score__c) >= .5`,
		`"a" & 'b' + "c" = "abc"`,
		`FOO(Title)`, `2 ^ 3`, `"\d"`, `((((TRUE`, `$`, `Account.Name`, `Score__c / 0 > 1`,
	} {
		f.Add(s)
	}
	recs := []record{
		{cur: m{}},
		{cur: m{}, old: m{}},
		{cur: m{"Title": "VP", "Phone": "12", "Email": "a@b.co", "External_Contact_ID__c": "B", "Sync_Version__c": 2.0,
			"Score__c": 0.0, "Do_Not_Call__c": true, "Kind__c": "Rekeyed", "Birthdate": "1990-01-02",
			"LastModifiedDate": "2026-11-26T10:00:00.000+0000"},
			old:   m{"External_Contact_ID__c": "A", "Sync_Version__c": 3.0, "Score__c": 7.0, "Birthdate": "bad date"},
			perms: []string{"Contact_Sync_Integration"}, user: "u@example.com"},
	}
	f.Fuzz(func(t *testing.T, src string) {
		for _, types := range []formula.FieldTypes{contact, nil} {
			fm, err := formula.Compile(src, types)
			if err != nil {
				var fe *formula.Error
				if !errors.As(err, &fe) {
					t.Fatalf("Compile(%q) error %v is not a *formula.Error", src, err)
				}
				continue
			}
			for _, r := range recs {
				if _, err := fm.Eval(r); err != nil {
					var fe *formula.Error
					if !errors.As(err, &fe) {
						t.Fatalf("Eval(%q) error %v is not a *formula.Error", src, err)
					}
				}
			}
			_, _ = fm.Eval(nil)
		}
		_, _ = formula.References(src)
	})
}

package formula_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim/formula"
)

// record is a formula.Env: a write of cur over old (old nil = an insert).
type record struct {
	cur, old map[string]any
	perms    []string
	user     string
}

func (r record) Value(f string) any { return r.cur[f] }
func (r record) Prior(f string) any {
	if r.old == nil {
		panic("Prior called on an insert")
	}
	return r.old[f]
}
func (r record) IsNew() bool                 { return r.old == nil }
func (r record) HasPermission(p string) bool { return slices.Contains(r.perms, p) }
func (r record) Username() string            { return r.user }

// contact is the field set of the tests: a Contact with typical custom fields.
var contact = formula.FieldTypes{
	"Title": formula.Text, "Phone": formula.Text, "Email": formula.Text,
	"External_Contact_ID__c": formula.Text, "Sync_Version__c": formula.Number, "Score__c": formula.Number,
	"Do_Not_Call__c": formula.Boolean, "Kind__c": formula.Picklist, "Birthdate": formula.Date,
	"LastModifiedDate": formula.DateTime,
}

type m = map[string]any

const (
	immutable = "AND(ISCHANGED(External_Contact_ID__c), NOT(ISBLANK(PRIORVALUE(External_Contact_ID__c))), NOT($Permission.Contact_Sync_Integration))"
	monotonic = "AND(NOT(ISNEW()), Sync_Version__c < PRIORVALUE(Sync_Version__c))"
)

func TestEval(t *testing.T) {
	insert := func(cur m) record { return record{cur: cur} }
	update := func(old, cur m) record { return record{old: old, cur: cur} }
	tests := []struct {
		name string
		src  string
		rec  record
		want bool
	}{
		// Blank handling: arithmetic and comparisons with a blank number are
		// null, and a null condition does not fire, negated or not.
		{"blank number compared", "Score__c > 5", insert(m{}), false},
		{"blank number compared, negated", "NOT(Score__c > 5)", insert(m{}), false},
		{"blank number compared with !", "!(Score__c <= 5)", insert(m{}), false},
		{"blank number not equal", "Score__c <> 1", insert(m{}), false},
		{"blank number in arithmetic", "Score__c + 1 > 0", insert(m{}), false},
		{"blank number in arithmetic, negated", "NOT(Score__c * 2 = 4)", insert(m{}), false},
		{"zero is a value", "Score__c + 1 > 0", insert(m{"Score__c": 0.0}), true},
		{"ISBLANK blank number", "ISBLANK(Score__c)", insert(m{}), true},
		{"ISBLANK zero", "ISBLANK(Score__c)", insert(m{"Score__c": 0.0}), false},
		{"ISNULL blank number", "ISNULL(Score__c)", insert(m{}), true},
		{"ISBLANK blank text", "ISBLANK(Title)", insert(m{}), true},
		{"ISBLANK empty literal", `ISBLANK("")`, insert(m{}), true},
		{"ISBLANK space", `ISBLANK(" ")`, insert(m{}), false},
		{"ISNULL text is never true", "ISNULL(Title)", insert(m{}), false},
		{"blank text equals empty", `Title = ""`, insert(m{}), true},
		{"blank text concatenates", `Title & "x" = "x"`, insert(m{}), true},
		{"LEN of blank text", "LEN(Title) = 0", insert(m{}), true},
		// Three-valued logic.
		{"OR true beats null", "OR(Score__c > 5, TRUE)", insert(m{}), true},
		{"OR false and null", "OR(Score__c > 5, FALSE)", insert(m{}), false},
		{"AND false beats null", "NOT(AND(Score__c > 5, FALSE))", insert(m{}), true},
		{"AND true and null", "AND(Score__c > 5, TRUE)", insert(m{}), false},
		{"|| true beats null", "Score__c > 5 || TRUE", insert(m{}), true},
		{"&& false beats null", "!(Score__c > 5 && FALSE)", insert(m{}), true},
		{"IF on null", "IF(Score__c > 5, FALSE, TRUE)", insert(m{}), false},
		{"IF true", `IF(Score__c > 5, Title = "a", Title = "b")`, insert(m{"Score__c": 6.0, "Title": "a"}), true},
		{"IF false", `IF(Score__c > 5, Title = "a", Title = "b")`, insert(m{"Score__c": 1.0, "Title": "b"}), true},
		// ISNEW, ISCHANGED, PRIORVALUE.
		{"ISNEW on insert", "ISNEW()", insert(m{}), true},
		{"ISNEW on update", "ISNEW()", update(m{}, m{}), false},
		{"PRIORVALUE on insert is the current value", `PRIORVALUE(Title) = "VP"`, insert(m{"Title": "VP"}), true},
		{"PRIORVALUE on insert is not blank", "ISBLANK(PRIORVALUE(Title))", insert(m{"Title": "VP"}), false},
		{"PRIORVALUE on update", `PRIORVALUE(Title) = "VP"`, update(m{"Title": "VP"}, m{"Title": "CEO"}), true},
		{"ISCHANGED false on insert", "ISCHANGED(Title)", insert(m{"Title": "VP"}), false},
		{"ISCHANGED text", "ISCHANGED(Title)", update(m{"Title": "VP"}, m{"Title": "CEO"}), true},
		{"ISCHANGED text case", "ISCHANGED(Title)", update(m{"Title": "VP"}, m{"Title": "vp"}), true},
		{"ISCHANGED unchanged", "ISCHANGED(Title)", update(m{"Title": "VP"}, m{"Title": "VP"}), false},
		{"ISCHANGED blank to text", "ISCHANGED(Title)", update(m{}, m{"Title": "VP"}), true},
		{"ISCHANGED number blank to zero", "ISCHANGED(Score__c)", update(m{}, m{"Score__c": 0.0}), true},
		{"ISCHANGED number zero to blank", "ISCHANGED(Score__c)", update(m{"Score__c": 0.0}, m{}), true},
		{"ISCHANGED number unchanged", "ISCHANGED(Score__c)", update(m{"Score__c": 5.0}, m{"Score__c": 5.0}), false},
		{"ISCHANGED checkbox", "ISCHANGED(Do_Not_Call__c)", update(m{"Do_Not_Call__c": false}, m{"Do_Not_Call__c": true}), true},
		// Precedence and associativity.
		{"* before +", "1 + 2 * 3 = 7", insert(m{}), true},
		{"parentheses", "(1 + 2) * 3 = 9", insert(m{}), true},
		{"- is left-associative", "10 - 2 - 3 = 5", insert(m{}), true},
		{"/ is left-associative", "12 / 2 / 3 = 2", insert(m{}), true},
		{"unary minus", "-2 * -3 = 6", insert(m{}), true},
		{"&& before ||", "TRUE || FALSE && FALSE", insert(m{}), true},
		{"! before &&", "!FALSE && FALSE", insert(m{}), false},
		{"& before =", `"a" & "b" = "ab"`, insert(m{}), true},
		{"+ before <", "1 + 1 < 3", insert(m{}), true},
		{"comparison chain is left-associative", "1 < 2 = TRUE", insert(m{}), true},
		{"== and != ", "1 == 1 && 1 != 2 && 1 <> 2", insert(m{}), true},
		{"+ joins texts", `"a" + "b" = "ab"`, insert(m{}), true},
		{"comment", "/* not yet */ TRUE", insert(m{}), true},
		// Names in any case resolve to the declared field.
		{"lower-case names", `and(not(isblank(title)), begins(TITLE, "VP"))`, insert(m{"Title": "VP Sales"}), true},
		{"keywords in any case", "true && !False", insert(m{}), true},
		// Text functions.
		{"TEXT of a number", `TEXT(Sync_Version__c) = "1732615200123456"`, insert(m{"Sync_Version__c": 1732615200123456.0}), true},
		{"TEXT of a fraction", `TEXT(1.5) = "1.5"`, insert(m{}), true},
		{"TEXT of a blank number", `TEXT(Score__c) = ""`, insert(m{}), true},
		{"TEXT of a picklist", `TEXT(Kind__c) = "Rekeyed"`, insert(m{"Kind__c": "Rekeyed"}), true},
		{"TEXT of a date/time", `TEXT(LastModifiedDate) = "2026-11-26 10:00:00Z"`, insert(m{"LastModifiedDate": "2026-11-26T10:00:00.000+0000"}), true},
		{"VALUE", `VALUE("12.5") = 12.5`, insert(m{}), true},
		{"VALUE of blank", `ISBLANK(VALUE(Title))`, insert(m{}), true},
		{"LEN counts characters", `LEN("日本語") = 3`, insert(m{}), true},
		{"BEGINS", `BEGINS(Title, "VP")`, insert(m{"Title": "VP Sales"}), true},
		{"BEGINS is case-sensitive", `BEGINS(Title, "VP")`, insert(m{"Title": "vp sales"}), false},
		{"BEGINS on blank", `BEGINS(Title, "VP")`, insert(m{}), false},
		{"NOT BEGINS on blank", `NOT(BEGINS(Title, "VP"))`, insert(m{}), false},
		{"CONTAINS", `CONTAINS(Email, "@example.")`, insert(m{"Email": "a@example.com"}), true},
		{"CONTAINS is case-sensitive", `CONTAINS(Email, "EXAMPLE")`, insert(m{"Email": "a@example.com"}), false},
		{"REGEX matches the whole text", `REGEX(Phone, "\\d{3}")`, insert(m{"Phone": "123"}), true},
		{"REGEX does not match a part", `REGEX(Phone, "\\d{3}")`, insert(m{"Phone": "1234"}), false},
		{"REGEX on blank", `NOT(REGEX(Phone, "\\d+"))`, insert(m{}), true},
		{"REGEX with a field pattern", `REGEX(Phone, Title)`, insert(m{"Phone": "12", "Title": "[0-9]+"}), true},
		{"REGEX case-insensitive flag", `REGEX(Title, "(?i)vp.*")`, insert(m{"Title": "VP Sales"}), true},
		{"ISPICKVAL", `ISPICKVAL(Kind__c, "Rekeyed")`, insert(m{"Kind__c": "Rekeyed"}), true},
		{"ISPICKVAL of PRIORVALUE", `ISPICKVAL(PRIORVALUE(Kind__c), "Rekeyed")`, update(m{"Kind__c": "Rekeyed"}, m{}), true},
		{"ISBLANK(TEXT(picklist))", `ISBLANK(TEXT(Kind__c))`, insert(m{}), true},
		{"escaped quotes", `"say \"hi\"" = 'say "hi"' && 'it\'s' = "it's"`, insert(m{}), true},
		{"checkbox compared", "Do_Not_Call__c = TRUE", insert(m{"Do_Not_Call__c": true}), true},
		{"checkbox as condition", "Do_Not_Call__c && ISBLANK(Phone)", insert(m{"Do_Not_Call__c": true}), true},
		{"dates compared", "Birthdate > PRIORVALUE(Birthdate)", update(m{"Birthdate": "1990-01-02"}, m{"Birthdate": "1990-01-03"}), true},
		{"date/times compared across formats", "LastModifiedDate < PRIORVALUE(LastModifiedDate)",
			update(m{"LastModifiedDate": "2026-11-26T10:00:00.000+0000"}, m{"LastModifiedDate": "2026-11-26T11:00:00+02:00"}), true},
		{"text is compared case-sensitively", `Title = "vp"`, insert(m{"Title": "VP"}), false},
		// Globals.
		{"$Permission held", "$Permission.Contact_Sync_Integration", record{cur: m{}, perms: []string{"Contact_Sync_Integration"}}, true},
		{"$Permission not held", "NOT($Permission.Contact_Sync_Integration)", record{cur: m{}}, true},
		{"$User.Username", `$User.Username = "jane@example.com"`, record{cur: m{}, user: "jane@example.com"}, true},
		{"$user.username in any case", `BEGINS($user.USERNAME, "jane")`, record{cur: m{}, user: "jane@example.com"}, true},
		// The shipped rules.
		{"immutable: set on insert", immutable, insert(m{"External_Contact_ID__c": "A"}), false},
		{"immutable: first set", immutable, update(m{}, m{"External_Contact_ID__c": "A"}), false},
		{"immutable: changed", immutable, update(m{"External_Contact_ID__c": "A"}, m{"External_Contact_ID__c": "B"}), true},
		{"immutable: cleared", immutable, update(m{"External_Contact_ID__c": "A"}, m{}), true},
		{"immutable: changed by the integration", immutable,
			record{old: m{"External_Contact_ID__c": "A"}, cur: m{"External_Contact_ID__c": "B"}, perms: []string{"Contact_Sync_Integration"}}, false},
		{"monotonic: insert", monotonic, insert(m{"Sync_Version__c": 1.0}), false},
		{"monotonic: older", monotonic, update(m{"Sync_Version__c": 1732615200123457.0}, m{"Sync_Version__c": 1732615200123456.0}), true},
		{"monotonic: equal", monotonic, update(m{"Sync_Version__c": 1732615200123456.0}, m{"Sync_Version__c": 1732615200123456.0}), false},
		{"monotonic: newer", monotonic, update(m{"Sync_Version__c": 1732615200123456.0}, m{"Sync_Version__c": 1732615200123457.0}), false},
		{"monotonic: first version", monotonic, update(m{}, m{"Sync_Version__c": 1.0}), false},
		{"monotonic: cleared", monotonic, update(m{"Sync_Version__c": 5.0}, m{}), false},
		{"monotonic: int64 values", monotonic, update(m{"Sync_Version__c": int64(1732615200123457)}, m{"Sync_Version__c": int64(1732615200123456)}), true},
		{"a user's rule", `AND(ISBLANK(Phone), BEGINS(Title, "VP"))`, insert(m{"Title": "VP Sales"}), true},
		{"a user's rule, phone set", `AND(ISBLANK(Phone), BEGINS(Title, "VP"))`, insert(m{"Title": "VP Sales", "Phone": "1"}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := formula.Compile(tt.src, contact)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.src, err)
			}
			got, err := f.Eval(tt.rec)
			if err != nil {
				t.Fatalf("Eval(%q): %v", tt.src, err)
			}
			if got != tt.want {
				t.Errorf("Eval(%q) = %v, want %v", tt.src, got, tt.want)
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	tests := []struct{ src, want string }{
		{"FOO(Title)", "Unknown function FOO"},
		{"ISBLANK(foo(Title))", "Unknown function foo"},
		{"TODAY() > Birthdate", "function TODAY is not supported"},
		{"ISBLANK(BLANKVALUE(Title, Phone))", "function BLANKVALUE is not supported"},
		{`Title = 5`, "Incorrect parameter type for operator '='. Expected Text, received Number"},
		{`Score__c = "5"`, "Incorrect parameter type for operator '='. Expected Number, received Text"},
		{`Score__c & "x" = "x"`, "Incorrect parameter type for operator '&'. Expected Text, received Number"},
		{`Title + 1 = "x"`, "Incorrect parameter type for operator '+'. Expected Text, received Number"},
		{`LEN(Score__c) > 1`, "Incorrect parameter type for function 'LEN()'. Expected Text, received Number"},
		{`BEGINS(Score__c, "1")`, "Incorrect parameter type for function 'BEGINS()'"},
		{`TEXT(Title) = "x"`, "Incorrect parameter type for function 'TEXT()'"},
		{`AND(Title, TRUE)`, "Incorrect parameter type for function 'AND()'. Expected Boolean, received Text"},
		{`IF(TRUE, 1, "a") = 1`, "Incorrect parameter type for function 'IF()'. Expected Number, received Text"},
		{`Title < "b"`, "Incorrect parameter type for operator '<'"},
		{`Birthdate < Score__c`, "Incorrect parameter type for operator '<'. Expected Date, received Number"},
		{`Birthdate + 1 > Birthdate`, "date arithmetic is not supported"},
		{`!Title`, "Incorrect parameter type for operator '!'"},
		{`-Title = 1`, "Incorrect parameter type for operator '-'"},
		{`Kind__c = "Rekeyed"`, "Field Kind__c is a picklist field"},
		{`ISBLANK(Kind__c)`, "Field Kind__c is a picklist field"},
		{`ISPICKVAL(Title, "x")`, "Incorrect parameter type for function 'ISPICKVAL()'. Expected Picklist, received Text"},
		{`ISPICKVAL(Kind__c, Title)`, "ISPICKVAL() compares with a text literal"},
		{`Nope__c = 1`, "Field Nope__c does not exist"},
		{`ISBLANK(Account.Name)`, "cross-object reference Account.Name is not supported"},
		{`$Profile.Name = "Admin"`, "global variable $Profile.Name is not supported"},
		{`$User.Email = "x"`, "global variable $User.Email is not supported"},
		{`2 ^ 3 = 8`, "operator ^"},
		{`IF(TRUE, TRUE)`, "Incorrect number of parameters for function 'IF()'. Expected 3, received 2"},
		{`NOT(TRUE, FALSE)`, "Incorrect number of parameters for function 'NOT()'. Expected 1, received 2"},
		{`ISNEW(Title)`, "Expected 0, received 1"},
		{`AND()`, "Expected at least 1, received 0"},
		{`ISCHANGED(Title & "x")`, "ISCHANGED() takes a field"},
		{`PRIORVALUE("x") = "x"`, "PRIORVALUE() takes a field"},
		{`Score__c + 1`, "Formula result is data type (Number)"},
		{`Title`, "Formula result is data type (Text)"},
		{`REGEX(Title, "(?=x)")`, "REGEX(): pattern"},
		{`"abc`, "unterminated text literal"},
		{`"a\d" = "x"`, `unknown escape \d`},
		{`/* open`, "unterminated comment"},
		{`Title = "a" | TRUE`, "unexpected character '|'"},
		{`Title # 1`, "unexpected character '#'"},
		{``, "unexpected end of formula"},
		{`AND(TRUE,)`, "unexpected )"},
		{`(TRUE`, "expected ) but found end of formula"},
		{`TRUE TRUE`, "unexpected TRUE"},
		{strings.Repeat("(", 200) + "TRUE" + strings.Repeat(")", 200), "nested more than 100 levels"},
	}
	for _, tt := range tests {
		_, err := formula.Compile(tt.src, contact)
		var fe *formula.Error
		if !errors.As(err, &fe) {
			t.Errorf("Compile(%q) error = %v, want a *formula.Error", tt.src, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%q) error = %q, want it to contain %q", tt.src, err, tt.want)
		}
	}
}

func TestErrorPosition(t *testing.T) {
	_, err := formula.Compile("AND(ISBLANK(Title),\n FOO(Title))", contact)
	var fe *formula.Error
	if !errors.As(err, &fe) || fe.Pos != 22 || !strings.HasSuffix(err.Error(), "(at character 22)") {
		t.Errorf("error %v, want FOO at character 22", err)
	}
}

// TestUntyped: without FieldTypes, any field is accepted and a type mismatch
// is an error of Eval.
func TestUntyped(t *testing.T) {
	f, err := formula.Compile(`Title = 5`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Eval(record{cur: m{"Title": "x"}}); err == nil || !strings.Contains(err.Error(), "Expected Text, received Number") {
		t.Errorf("Eval text = number: %v", err)
	}
	if fire, err := f.Eval(record{cur: m{"Title": 5.0}}); err != nil || !fire {
		t.Errorf("Eval 5 = 5: %v %v", fire, err)
	}
	tests := []struct {
		src  string
		rec  record
		want string // "" = no error
	}{
		{`LEN(Score) > 1`, record{cur: m{"Score": 3.0}}, "Incorrect parameter type for function 'LEN()'"},
		{`Score + 1 > 1`, record{cur: m{"Score": "3"}}, "Incorrect parameter type for operator '+'. Expected Text, received Number"},
		{`Flag && TRUE`, record{cur: m{"Flag": 1.0}}, "Incorrect parameter type for operator '&&'"},
		{`NOT(Flag)`, record{cur: m{"Flag": "x"}}, "Incorrect parameter type for function 'NOT()'"},
		{`VALUE(Code) > 1`, record{cur: m{"Code": "12a"}}, `VALUE(): "12a" is not a number`},
		{`Score / Zero > 1`, record{cur: m{"Score": 1.0, "Zero": 0.0}}, "division by zero"},
		{`REGEX(Code, Pattern)`, record{cur: m{"Code": "a", "Pattern": "(?<=a)"}}, "REGEX(): pattern"},
		{`Score > 1`, record{cur: m{"Score": []int{1}}}, "field Score holds [1] ([]int)"},
		{`IF(TRUE, Score, FALSE)`, record{cur: m{"Score": 3.0}}, "Formula result is data type (Number)"},
		{`ISBLANK(Score) && ISNULL(Title) && Title = ""`, record{cur: m{}}, ""},
	}
	for _, tt := range tests {
		f, err := formula.Compile(tt.src, nil)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.src, err)
			continue
		}
		_, err = f.Eval(tt.rec)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Eval(%q): %v", tt.src, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Eval(%q) error = %v, want %q", tt.src, err, tt.want)
		}
	}
}

func TestReferences(t *testing.T) {
	f, err := formula.Compile(immutable+` && $User.Username <> "x" && ISBLANK(title)`, contact)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Fields(); !slices.Equal(got, []string{"External_Contact_ID__c", "Title"}) {
		t.Errorf("Fields %v", got)
	}
	if got := f.Permissions(); !slices.Equal(got, []string{"Contact_Sync_Integration"}) {
		t.Errorf("Permissions %v", got)
	}
	// References reads formulas that Compile refuses.
	r, err := formula.References(`AND(TODAY() > Birthdate, Account.Rating__c = "Hot", NOT($Permission.Bypass), "X__c" = Y__c, $Profile.Name = 'A')`)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Fields, []string{"Account.Rating__c", "Birthdate", "Y__c"}) || !slices.Equal(r.Permissions, []string{"Bypass"}) ||
		!slices.Equal(r.Functions, []string{"AND", "NOT", "TODAY"}) {
		t.Errorf("References = %+v", r)
	}
	if _, err := formula.References(`"open`); err == nil {
		t.Error("References accepted an unterminated literal")
	}
}

package soql

import (
	"errors"
	"strings"
	"testing"
)

// testSchema is a Contact with one field of every type, and a custom object.
func testSchema(object string) (ObjectInfo, bool) {
	fields := func(fs ...FieldInfo) map[string]FieldInfo {
		m := map[string]FieldInfo{}
		for _, f := range fs {
			m[strings.ToLower(f.Name)] = f
		}
		return m
	}
	switch strings.ToLower(object) {
	case "contact":
		return ObjectInfo{Name: "Contact", Fields: fields(
			FieldInfo{Name: "Id", Type: "id"},
			FieldInfo{Name: "FirstName", Type: "string"},
			FieldInfo{Name: "LastName", Type: "string"},
			FieldInfo{Name: "Email", Type: "email"},
			FieldInfo{Name: "Phone", Type: "phone"},
			FieldInfo{Name: "External_Contact_ID__c", Type: "string"},
			FieldInfo{Name: "Token__c", Type: "string", CaseSensitive: true},
			FieldInfo{Name: "Score__c", Type: "double"},
			FieldInfo{Name: "Visits__c", Type: "int"},
			FieldInfo{Name: "Active__c", Type: "boolean"},
			FieldInfo{Name: "Birthdate", Type: "date"},
			FieldInfo{Name: "CreatedDate", Type: "datetime"},
			FieldInfo{Name: "Description", Type: "textarea"},
			FieldInfo{Name: "LeadSource", Type: "picklist"},
			FieldInfo{Name: "AccountId", Type: "reference"},
		)}, true
	case "contact_sync_exception__c":
		return ObjectInfo{Name: "Contact_Sync_Exception__c", Fields: fields(
			FieldInfo{Name: "Exception_Key__c", Type: "string"},
			FieldInfo{Name: "Kind__c", Type: "picklist"},
		)}, true
	}
	return ObjectInfo{}, false
}

func TestParseAccepts(t *testing.T) {
	for _, q := range []string{
		"SELECT Id FROM Contact",
		"select id, email from contact",
		"SELECT Id, Email, External_Contact_ID__c FROM Contact WHERE Email IN ('a@x.com','o\\'b@y.com')",
		"SELECT Id FROM Contact WHERE Email IN ('a@x.com') LIMIT 200",
		"SELECT Id FROM Contact WHERE Email = null",
		"SELECT Id FROM Contact WHERE Email != null AND LastName <> 'x'",
		"SELECT Id FROM Contact WHERE (Email = 'a' OR Email = 'b') AND LastName = 'c'",
		"SELECT Id FROM Contact WHERE Email = 'a' OR (Email = 'b' AND LastName = 'c')",
		"SELECT Id FROM Contact WHERE NOT Email = 'a'",
		"SELECT Id FROM Contact WHERE NOT (Email = 'a' OR Email = 'b')",
		"SELECT Id FROM Contact WHERE Email NOT IN ('a', null)",
		"SELECT Id FROM Contact WHERE Email LIKE '%\\_x\\%%'",
		"SELECT Id FROM Contact WHERE Score__c >= -1.5 AND Visits__c < 10",
		"SELECT Id FROM Contact WHERE Active__c = TRUE",
		"SELECT Id FROM Contact WHERE Birthdate = 2026-11-27",
		"SELECT Id FROM Contact WHERE Birthdate IN (2026-11-27, 2026-11-28)",
		"SELECT Id FROM Contact WHERE CreatedDate > 2026-11-27T10:00:00Z",
		"SELECT Id FROM Contact WHERE CreatedDate > 2026-11-27T10:00:00.123+02:00",
		"SELECT Id FROM Contact WHERE CreatedDate < 2026-11-27T10:00:00-05:30",
		"SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS:7",
		"SELECT Id FROM Contact WHERE CreatedDate = TODAY OR Birthdate = YESTERDAY",
		"SELECT Id FROM Contact WHERE Birthdate = NEXT_N_DAYS:3 OR Birthdate = tomorrow",
		"SELECT Id FROM Contact ORDER BY LastName DESC NULLS LAST, Id LIMIT 10 OFFSET 2000",
		"SELECT COUNT() FROM Contact",
		"SELECT COUNT() FROM Contact WHERE Email = 'a' LIMIT 5",
		"SELECT COUNT(Id) FROM Contact",
		"SELECT Email, COUNT(Id) n FROM Contact GROUP BY Email HAVING COUNT(Id) > 1",
		"SELECT Email, COUNT(Id) FROM Contact GROUP BY Email HAVING COUNT(Id) > 1 AND Email != null ORDER BY COUNT(Id) DESC",
		"SELECT LeadSource, COUNT(Id), COUNT(Email) FROM Contact GROUP BY LeadSource",
		"SELECT LeadSource, LastName, COUNT(Id) n FROM Contact GROUP BY LeadSource, LastName",
		"SELECT COUNT(Id) FROM Contact GROUP BY LeadSource, LastName, Email",
		"SELECT LastName FROM Contact GROUP BY LeadSource, LastName HAVING LeadSource != null ORDER BY LeadSource, LastName",
		"SELECT Exception_Key__c FROM contact_sync_exception__c",
		"SELECT Id FROM Contact WHERE Email = '\\u00e9\\uD83D\\uDE00\\N\\R\\T\\B\\F\\\"'",
		"SELECT\n  Id\nFROM\tContact\r\nWHERE Email='x'",
		"SELECT Id FROM Contact WHERE Email = '" + strings.Repeat("a", 4000) + "'",
	} {
		if _, err := Parse(q, testSchema); err != nil {
			t.Errorf("Parse(%q): %v", q, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		q, code, msg string // msg: substring of the message, "" to skip
	}{
		{"", CodeMalformedQuery, "unexpected token: <EOF>"},
		{"SELECT FROM WHERE", CodeMalformedQuery, "unexpected token: 'FROM'"},
		{"SELECT Id FROM Bogus", CodeInvalidType, "sObject type 'Bogus' is not supported."},
		{"SELECT Foo FROM Contact", CodeInvalidField,
			"\nSELECT Foo FROM Contact\n       ^\nERROR at Row:1:Column:8\nNo such column 'Foo' on entity 'Contact'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."},
		{"SELECT Id FROM Contact WHERE Nope__c = 'x'", CodeInvalidField, "ERROR at Row:1:Column:30\nNo such column 'Nope__c' on entity 'Contact'."},
		{"SELECT Id FROM Contact\nWHERE Nope = 'x'", CodeInvalidField, "\nWHERE Nope = 'x'\n      ^\nERROR at Row:2:Column:7\n"},
		{"SELECT Id FROM Contact ORDER BY Nope", CodeInvalidField, "'Nope'"},
		{"SELECT Account.Name FROM Contact", CodeInvalidField, "Didn't understand relationship 'Account'"},
		{"SELECT Id FROM Contact WHERE Email = \"a\"", CodeMalformedQuery, "no viable alternative at character '\"'"},
		{"SELECT Id FROM Contact WHERE Email = 'a", CodeMalformedQuery, "unterminated"},
		{"SELECT Id FROM Contact WHERE Email = 'a\\'", CodeMalformedQuery, "unterminated"},
		{"SELECT Id FROM Contact WHERE Email = 'a\\", CodeMalformedQuery, "unterminated"},
		{"SELECT Id FROM Contact WHERE Email = 'a\\x'", CodeMalformedQuery, "Illegal character sequence '\\x'"},
		{"SELECT Id FROM Contact WHERE Email = 'a\\_'", CodeMalformedQuery, "Illegal character sequence '\\_'"},
		{"SELECT Id FROM Contact WHERE Email = 'a\\%'", CodeMalformedQuery, "Illegal character sequence '\\%'"},
		{"SELECT Id FROM Contact WHERE Email LIKE 'a\\q'", CodeMalformedQuery, "Illegal character sequence '\\q'"},
		{"SELECT Id FROM Contact WHERE Email = '\\u12'", CodeMalformedQuery, "Illegal character sequence"},
		{"SELECT Id FROM Contact WHERE Email = '\\u12G4'", CodeMalformedQuery, "Illegal character sequence"},
		{"SELECT Id FROM Contact WHERE Email = '\\U0041'", CodeMalformedQuery, "Illegal character sequence '\\U'"},
		{"SELECT Id FROM Contact WHERE Email = '" + strings.Repeat("a", 4001) + "'", CodeMalformedQuery, "too long"},
		{"SELECT Id FROM Contact WHERE Email = '" + strings.Repeat("\\n", 4001) + "'", CodeMalformedQuery, "too long"},
		{"SELECT Id FROM Contact WHERE Email IN ('" + strings.Repeat("x", 100000) + "')", CodeMalformedQuery, "query too long"},
		{"SELECT Id FROM Contact WHERE Email = 'a' AND Email = 'b' OR Email = 'c'", CodeMalformedQuery, "unexpected token: 'OR'"},
		{"SELECT Id FROM Contact WHERE Email = 'a' OR Email = 'b' AND Email = 'c'", CodeMalformedQuery, "unexpected token: 'AND'"},
		{"SELECT Id FROM Contact WHERE Email = 'a' AND", CodeMalformedQuery, "<EOF>"},
		{"SELECT Id FROM Contact WHERE (Email = 'a'", CodeMalformedQuery, "<EOF>"},
		{"SELECT Id FROM Contact WHERE Email = 'a')", CodeMalformedQuery, "unexpected token: ')'"},
		{"SELECT Id FROM Contact WHERE Email IN ()", CodeMalformedQuery, "unexpected token: ')'"},
		{"SELECT Id FROM Contact WHERE Email IN ('a',)", CodeMalformedQuery, "unexpected token: ')'"},
		{"SELECT Id FROM Contact WHERE Email IN 'a'", CodeMalformedQuery, "unexpected token: ''a''"},
		{"SELECT Id FROM Contact WHERE Email = 5", CodeMalformedQuery, "value of filter criterion for field 'Email' must be of type string and should be enclosed in quotes"},
		{"SELECT Id FROM Contact WHERE Score__c = '5'", CodeMalformedQuery, "value of filter criterion for field 'Score__c' must be of type double and should not be enclosed in quotes"},
		{"SELECT Id FROM Contact WHERE Active__c = 'true'", CodeMalformedQuery, "must be of type boolean and should not be enclosed in quotes"},
		{"SELECT Id FROM Contact WHERE Birthdate = '2026-11-27'", CodeMalformedQuery, "must be of type date"},
		{"SELECT Id FROM Contact WHERE Birthdate = 2026-11-27T00:00:00Z", CodeMalformedQuery, "must be of type date"},
		{"SELECT Id FROM Contact WHERE CreatedDate = 2026-11-27", CodeMalformedQuery, "must be of type dateTime"},
		{"SELECT Id FROM Contact WHERE CreatedDate > 2026-11-27T10:00:00", CodeMalformedQuery, "time zone"},
		{"SELECT Id FROM Contact WHERE Birthdate = 2026-13-01", CodeMalformedQuery, "invalid date"},
		{"SELECT Id FROM Contact WHERE Birthdate = 2026-1-01", CodeMalformedQuery, "invalid date"},
		{"SELECT Id FROM Contact WHERE Email = TODAY", CodeMalformedQuery, "must be of type string"},
		{"SELECT Id FROM Contact WHERE Email = true", CodeMalformedQuery, "must be of type string"},
		{"SELECT Id FROM Contact WHERE Email = Email", CodeMalformedQuery, "unexpected token: 'Email'"},
		{"SELECT Id FROM Contact WHERE Birthdate = LAST_N_DAYS", CodeMalformedQuery, "<EOF>"},
		{"SELECT Id FROM Contact WHERE Birthdate = LAST_N_DAYS: 3", CodeMalformedQuery, "non-negative integer"},
		{"SELECT Id FROM Contact WHERE Birthdate = LAST_N_DAYS:-3", CodeMalformedQuery, "non-negative integer"},
		{"SELECT Id FROM Contact WHERE Birthdate IN (TODAY)", CodeMalformedQuery, "not supported in an IN list"},
		{"SELECT Id FROM Contact WHERE Score__c LIKE '1%'", CodeMalformedQuery, "invalid operator"},
		{"SELECT Id FROM Contact WHERE Email LIKE null", CodeMalformedQuery, "must be of type string"},
		{"SELECT Id FROM Contact WHERE Email < null", CodeMalformedQuery, "null can only"},
		{"SELECT Id FROM Contact WHERE Active__c > false", CodeMalformedQuery, "invalid operator"},
		{"SELECT Id FROM Contact WHERE Email INCLUDES ('a')", CodeMalformedQuery, "unexpected token: 'INCLUDES'"},
		{"SELECT Id FROM Contact WHERE Email NOT LIKE 'a'", CodeMalformedQuery, "unexpected token: 'LIKE'"},
		{"SELECT Id FROM Contact WHERE COUNT(Id) > 1", CodeMalformedQuery, "HAVING"},
		{"SELECT Id FROM Contact WHERE Score__c = 5abc", CodeMalformedQuery, "unexpected character"},
		{"SELECT Id FROM Contact WHERE Score__c = 1.", CodeMalformedQuery, "invalid number"},
		{"SELECT Id FROM Contact WHERE Email = :email", CodeMalformedQuery, "unexpected token: ':'"},
		{"SELECT * FROM Contact", CodeMalformedQuery, "no viable alternative at character '*'"},
		{"SELECT Id FROM Contact;", CodeMalformedQuery, "no viable alternative at character ';'"},
		{"SELECT Id, Id FROM Contact", CodeMalformedQuery, "duplicate field selected: Id"},
		{"SELECT Id, id FROM Contact", CodeMalformedQuery, "duplicate field selected"},
		{"SELECT Id Email FROM Contact", CodeMalformedQuery, "unexpected token: 'Email'"},
		{"SELECT Id FROM Contact c", CodeMalformedQuery, "unexpected token: 'c'"},
		{"SELECT Id FROM Contact, Account", CodeMalformedQuery, "unexpected token: ','"},
		{"SELECT Id, (SELECT Id FROM Cases) FROM Contact", CodeMalformedQuery, "unexpected token: '('"},
		{"SELECT MAX(Score__c) FROM Contact", CodeMalformedQuery, "unsupported function"},
		{"SELECT FIELDS(ALL) FROM Contact", CodeMalformedQuery, "unexpected token: 'FIELDS'"},
		{"SELECT Id, COUNT() FROM Contact", CodeMalformedQuery, "COUNT() must be the only"},
		{"SELECT COUNT() c FROM Contact", CodeMalformedQuery, "unexpected token: 'c'"},
		{"SELECT COUNT() FROM Contact GROUP BY Email", CodeMalformedQuery, "COUNT()"},
		{"SELECT Email, COUNT(Id) FROM Contact", CodeMalformedQuery, "Field must be grouped or aggregated: Email"},
		{"SELECT Id, COUNT(Id) FROM Contact GROUP BY Email", CodeMalformedQuery, "Field must be grouped or aggregated: Id"},
		{"SELECT COUNT(Id) a, COUNT(Email) a FROM Contact", CodeMalformedQuery, "duplicate field selected: a"},
		{"SELECT Email, LastName, Id FROM Contact GROUP BY Email, LastName", CodeMalformedQuery, "Field must be grouped or aggregated: Id"},
		{"SELECT Email FROM Contact GROUP BY Email, Score__c", CodeMalformedQuery, "can not be grouped"},
		{"SELECT Email FROM Contact GROUP BY Email,", CodeMalformedQuery, "<EOF>"},
		{"SELECT Email FROM Contact GROUP BY Email, Nope__c", CodeInvalidField, "No such column 'Nope__c'"},
		{"SELECT Email FROM Contact GROUP BY Email, LastName HAVING Token__c = 'x'", CodeMalformedQuery, "grouped or aggregated"},
		{"SELECT Email FROM Contact GROUP BY Email, LastName ORDER BY Token__c", CodeMalformedQuery, "Ordered field must be grouped"},
		{"SELECT Score__c FROM Contact GROUP BY Score__c", CodeMalformedQuery, "can not be grouped"},
		{"SELECT Email FROM Contact GROUP Email", CodeMalformedQuery, "unexpected token: 'Email'"},
		{"SELECT Id FROM Contact HAVING COUNT(Id) > 1", CodeMalformedQuery, "HAVING requires GROUP BY"},
		{"SELECT Email FROM Contact GROUP BY Email HAVING COUNT(Id) > '1'", CodeMalformedQuery, "must be of type integer"},
		{"SELECT Email FROM Contact GROUP BY Email HAVING LastName = 'x'", CodeMalformedQuery, "grouped or aggregated"},
		{"SELECT Email FROM Contact GROUP BY Email ORDER BY LastName", CodeMalformedQuery, "Ordered field must be grouped"},
		{"SELECT Id FROM Contact ORDER BY COUNT(Id)", CodeMalformedQuery, "require GROUP BY"},
		{"SELECT Id FROM Contact ORDER BY Email NULLS", CodeMalformedQuery, "<EOF>"},
		{"SELECT Id FROM Contact ORDER BY Email DESC ASC", CodeMalformedQuery, "unexpected token: 'ASC'"},
		{"SELECT Id FROM Contact LIMIT", CodeMalformedQuery, "<EOF>"},
		{"SELECT Id FROM Contact LIMIT -1", CodeMalformedQuery, "non-negative integer"},
		{"SELECT Id FROM Contact LIMIT 1.5", CodeMalformedQuery, "non-negative integer"},
		{"SELECT Id FROM Contact LIMIT 99999999999999999999", CodeMalformedQuery, "non-negative integer"},
		{"SELECT Id FROM Contact OFFSET 2001", CodeMalformedQuery, "Maximum SOQL offset allowed is 2000"},
		{"SELECT Id FROM Contact OFFSET 5 LIMIT 5", CodeMalformedQuery, "unexpected token: 'LIMIT'"},
		{"SELECT Id FROM Contact LIMIT 5 ORDER BY Id", CodeMalformedQuery, "unexpected token: 'ORDER'"},
		{"SELECT Id FROM Contact WHERE " + strings.Repeat("(", 200) + "Email = 'a'" + strings.Repeat(")", 200), CodeMalformedQuery, "too complicated"},
		{"SELECT Id FROM Contact WHERE " + strings.Repeat("NOT ", 200) + "Email = 'a'", CodeMalformedQuery, "too complicated"},
	} {
		_, err := Parse(tc.q, testSchema)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%.80q) = %v, want *Error %s", tc.q, err, tc.code)
			continue
		}
		if e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("Parse(%.80q) = %s %q, want %s containing %q", tc.q, e.Code, e.Message, tc.code, tc.msg)
		}
	}
}

func TestParseNilSchema(t *testing.T) {
	_, err := Parse("SELECT Id FROM Contact", nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInvalidType {
		t.Fatalf("Parse with nil schema = %v, want INVALID_TYPE", err)
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Code: CodeMalformedQuery, Message: "m"}
	if e.Error() != "MALFORMED_QUERY: m" {
		t.Fatalf("Error() = %q", e.Error())
	}
}

func TestCaretCountsCharacters(t *testing.T) {
	_, err := Parse("SELECT Id FROM Contact WHERE Email = 'é' AND Nope = 1", testSchema)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "ERROR at Row:1:Column:46\n") ||
		!strings.Contains(e.Message, "\n"+strings.Repeat(" ", 45)+"^\n") {
		t.Fatalf("got %v", err)
	}
}

func TestObjectAndFieldsAreCanonical(t *testing.T) {
	q, err := Parse("select ID, email, external_contact_id__c from CONTACT", testSchema)
	if err != nil {
		t.Fatal(err)
	}
	if q.Object() != "Contact" {
		t.Errorf("Object() = %q", q.Object())
	}
	res, err := q.Run(nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.Fields, ","); got != "Id,Email,External_Contact_ID__c" {
		t.Errorf("Fields = %s", got)
	}
	if res.Rows == nil || len(res.Rows) != 0 || res.TotalSize != 0 {
		t.Errorf("empty result = %+v", res)
	}
}

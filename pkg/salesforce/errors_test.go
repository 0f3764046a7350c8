package salesforce

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

// TestClassify covers every row of the reference error catalogue (§5), the
// duplicate triad (§1.3), HTTP 300 and the HTML gateway statuses.
func TestClassify(t *testing.T) {
	tests := []struct {
		code   string
		status int
		want   Class
	}{
		{"INVALID_SESSION_ID", 401, ClassSession},
		{"REQUEST_LIMIT_EXCEEDED", 403, ClassLimit},
		{"REQUEST_LIMIT_EXCEEDED", 503, ClassLimit}, // concurrency variant: code wins over status
		{"REQUEST_LIMIT_EXCEEDED", 429, ClassLimit},
		{"UNABLE_TO_LOCK_ROW", 400, ClassTransient},
		{"UNABLE_TO_LOCK_ROW", 500, ClassTransient},
		{"UNABLE_TO_LOCK_ROW", 0, ClassTransient}, // per-record
		{"SERVER_UNAVAILABLE", 503, ClassTransient},
		{"", 500, ClassTransient},
		{"", 502, ClassTransient},
		{"", 503, ClassTransient},
		{"", 504, ClassTransient},
		{"UNKNOWN_EXCEPTION", 500, ClassTransient}, // unknown code: status decides
		{"QUERY_TIMEOUT", 400, ClassTransient},
		{"INVALID_FIELD", 400, ClassPermanent},
		{"REQUIRED_FIELD_MISSING", 400, ClassPermanent},
		{"REQUIRED_FIELD_MISSING", 0, ClassPermanent},
		{"STRING_TOO_LONG", 400, ClassPermanent},
		{"INVALID_EMAIL_ADDRESS", 400, ClassPermanent},
		{"FIELD_CUSTOM_VALIDATION_EXCEPTION", 400, ClassPermanent},
		{"MALFORMED_ID", 400, ClassPermanent},
		{"MALFORMED_QUERY", 400, ClassPermanent},
		{"NOT_FOUND", 404, ClassPermanent},
		{"INVALID_TYPE", 400, ClassPermanent},
		{"JSON_PARSER_ERROR", 400, ClassPermanent},
		{"DUPLICATE_VALUE", 400, ClassDuplicate},
		{"DUPLICATE_VALUE", 0, ClassDuplicate},
		{"DUPLICATES_DETECTED", 400, ClassDuplicate},
		{"DUPLICATES_DETECTED", 0, ClassDuplicate},
		{"DUPLICATE_EXTERNAL_ID", 0, ClassMultipleMatch},
		{"", 300, ClassMultipleMatch},
		{"API_DISABLED_FOR_ORG", 403, ClassPermanent},
		{"METHOD_NOT_ALLOWED", 405, ClassPermanent},
		{"INVALID_FIELD_FOR_INSERT_UPDATE", 400, ClassPermanent},
		{"INVALID_FIELD", 500, ClassPermanent}, // known code wins over a 5xx status
		{"ALL_OR_NONE_OPERATION_ROLLED_BACK", 0, ClassTransient},
		{"PROCESSING_HALTED", 400, ClassTransient},
		{"", 401, ClassSession},
		{"", 429, ClassLimit},
		{"", 400, ClassPermanent},
		{"", 404, ClassPermanent},
		{"", 414, ClassPermanent},
		{"", 0, ClassPermanent},
		{"SOMETHING_NEW", 400, ClassPermanent},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.code, tt.status), func(t *testing.T) {
			if got := Classify(tt.code, tt.status); got != tt.want {
				t.Errorf("Classify(%q, %d) = %v, want %v", tt.code, tt.status, got, tt.want)
			}
		})
	}
}

func TestClassOf(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	tests := []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, ClassPermanent},
		{"api error wrapped", fmt.Errorf("ctx: %w", &APIError{StatusCode: 400, ErrorCode: "UNABLE_TO_LOCK_ROW"}), ClassTransient},
		{"html 502", parseError(502, "text/html", []byte("<html><title>502 Bad Gateway</title></html>")), ClassTransient},
		{"record error", RecordError{StatusCode: "DUPLICATES_DETECTED"}, ClassDuplicate},
		{"record error pointer", &RecordError{StatusCode: "DUPLICATE_EXTERNAL_ID"}, ClassMultipleMatch},
		{"limit sentinel", fmt.Errorf("x: %w", ErrRequestLimit), ClassLimit},
		{"network", fmt.Errorf("salesforce: GET /limits: %w", dialErr), ClassTransient},
		{"auth refused", &AuthError{StatusCode: 400, Code: "invalid_grant"}, ClassPermanent},
		{"auth unreachable", &AuthError{Err: dialErr}, ClassTransient},
		{"auth 503", &AuthError{StatusCode: 503}, ClassTransient},
		{"other", errors.New("boom"), ClassPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClassOf(tt.err); got != tt.want {
				t.Errorf("ClassOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestRequestLimitIs(t *testing.T) {
	err := fmt.Errorf("records 0-199 of 200: %w", parseError(403, "application/json",
		[]byte(`[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`)))
	if !errors.Is(err, ErrRequestLimit) {
		t.Fatalf("errors.Is(%v, ErrRequestLimit) = false", err)
	}
	if errors.Is(parseError(400, "", []byte(`[{"errorCode":"UNABLE_TO_LOCK_ROW","message":"x"}]`)), ErrRequestLimit) {
		t.Fatal("UNABLE_TO_LOCK_ROW matched ErrRequestLimit")
	}
}

// Recorded bodies from the reference (§0, §1.2, §2.3, §4.4, §5).
const dupBody = `[{
  "%s": {
    "allowSave": true,
    "duplicateRule": "Standard_Contact_Duplicate_Rule",
    "duplicateRuleEntityType": "Contact",
    "errorMessage": "You're creating a duplicate record. We recommend you use an existing record instead.",
    "matchResults": [{
      "entityType": "Contact",
      "errors": [],
      "matchEngine": "FuzzyMatchEngine",
      "matchRecords": [{
        "additionalInformation": [],
        "fieldDiffs": [],
        "matchConfidence": 100.0,
        "record": {"attributes": {"type": "Contact","url": "/services/data/v54.0/sobjects/Contact/0038M0000016Wv8QAE"},
                   "Id": "0038M0000016Wv8QAE"}
      }],
      "rule": "Standard_Contact_Match_Rule_v1_1",
      "size": 1,
      "success": true
    }]
  },
  "errorCode": "DUPLICATES_DETECTED",
  "message": "You're creating a duplicate record. We recommend you use an existing record instead."
}]`

func TestParseErrorDuplicateBothSpellings(t *testing.T) {
	for _, key := range []string{"duplicateResut", "duplicateResult"} {
		t.Run(key, func(t *testing.T) {
			e := parseError(400, "application/json;charset=UTF-8", []byte(fmt.Sprintf(dupBody, key)))
			if e.ErrorCode != "DUPLICATES_DETECTED" || e.StatusCode != 400 {
				t.Fatalf("got %+v", e)
			}
			d := e.DuplicateResult
			if d == nil {
				t.Fatal("DuplicateResult not parsed")
			}
			if !d.AllowSave || d.DuplicateRule != "Standard_Contact_Duplicate_Rule" {
				t.Errorf("duplicate result = %+v", d)
			}
			if len(d.MatchResults) != 1 || d.MatchResults[0].EntityType != "Contact" ||
				len(d.MatchResults[0].MatchRecords) != 1 || d.MatchResults[0].MatchRecords[0].MatchConfidence != 100 {
				t.Errorf("match results = %+v", d.MatchResults)
			}
			if got := d.IDs(); len(got) != 1 || got[0] != "0038M0000016Wv8QAE" {
				t.Errorf("IDs() = %v", got)
			}
			if e.Class() != ClassDuplicate {
				t.Errorf("class = %v", e.Class())
			}
		})
	}
}

func TestParseErrorShapes(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		ctype, body string
		want        APIError
	}{
		{"session", 401, "application/json", `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`,
			APIError{StatusCode: 401, ErrorCode: "INVALID_SESSION_ID", Message: "Session expired or invalid"}},
		{"key order varies", 400, "application/json", `[{"fields":["LastName"],"errorCode":"REQUIRED_FIELD_MISSING","message":"Required fields are missing: [LastName]"}]`,
			APIError{StatusCode: 400, ErrorCode: "REQUIRED_FIELD_MISSING", Message: "Required fields are missing: [LastName]", Fields: []string{"LastName"}}},
		{"invalid email", 400, "application/json", `[{"message":"Email: invalid email address: foo","errorCode":"INVALID_EMAIL_ADDRESS","fields":["Email"]}]`,
			APIError{StatusCode: 400, ErrorCode: "INVALID_EMAIL_ADDRESS", Message: "Email: invalid email address: foo", Fields: []string{"Email"}}},
		{"not found", 404, "application/json", `[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]`,
			APIError{StatusCode: 404, ErrorCode: "NOT_FOUND", Message: "The requested resource does not exist"}},
		{"method not allowed", 405, "application/json", `[{"errorCode":"METHOD_NOT_ALLOWED","message":"HTTP Method 'PATCH' not allowed. Allowed are HEAD,GET,POST"}]`,
			APIError{StatusCode: 405, ErrorCode: "METHOD_NOT_ALLOWED", Message: "HTTP Method 'PATCH' not allowed. Allowed are HEAD,GET,POST"}},
		{"limit", 403, "application/json", `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`,
			APIError{StatusCode: 403, ErrorCode: "REQUEST_LIMIT_EXCEEDED", Message: "TotalRequests Limit exceeded."}},
		{"invalid field multi-line", 400, "application/json", `[{"message":"\nSELECT Foo FROM Contact\n       ^\nERROR at Row:1:Column:8\nNo such column 'Foo' on entity 'Contact'.","errorCode":"INVALID_FIELD"}]`,
			APIError{StatusCode: 400, ErrorCode: "INVALID_FIELD", Message: "\nSELECT Foo FROM Contact\n       ^\nERROR at Row:1:Column:8\nNo such column 'Foo' on entity 'Contact'."}},
		{"oauth style object", 400, "application/json", `{"error":"invalid_grant","error_description":"authentication failure"}`,
			APIError{StatusCode: 400, ErrorCode: "invalid_grant", Message: "authentication failure"}},
		{"empty 503", 503, "", ``,
			APIError{StatusCode: 503, Message: "Service Unavailable (empty body)"}},
		{"html 502", 502, "text/html", "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>" + strings.Repeat("x", 5000) + "</body></html>",
			APIError{StatusCode: 502, Message: `Bad Gateway (HTML page "502 Bad Gateway")`}},
		{"html 504 without title", 504, "text/html; charset=utf-8", "<html><body>gateway timeout</body></html>",
			APIError{StatusCode: 504, Message: "Gateway Timeout (HTML page, 41 bytes)"}},
		{"multiple choices", 300, "application/json", `["/services/data/v60.0/sobjects/Contact/0033h00000Kzv3AAAR","/services/data/v60.0/sobjects/Contact/0033h00000Kzv3BAAZ"]`,
			APIError{StatusCode: 300, Message: "external ID matches 2 records", Matches: []string{
				"/services/data/v60.0/sobjects/Contact/0033h00000Kzv3AAAR", "/services/data/v60.0/sobjects/Contact/0033h00000Kzv3BAAZ"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseError(tt.status, tt.ctype, []byte(tt.body))
			if got.StatusCode != tt.want.StatusCode || got.ErrorCode != tt.want.ErrorCode || got.Message != tt.want.Message ||
				strings.Join(got.Fields, ",") != strings.Join(tt.want.Fields, ",") ||
				strings.Join(got.Matches, ",") != strings.Join(tt.want.Matches, ",") {
				t.Errorf("parseError =\n %#v\nwant\n %#v", got, &tt.want)
			}
			if len(got.Error()) > 400 {
				t.Errorf("Error() is %d bytes long", len(got.Error()))
			}
		})
	}
}

// Per-record results as recorded (§3.1, F12) decode into SaveResult, code
// from "statusCode".
func TestSaveResultDecoding(t *testing.T) {
	body := []byte(`[{"id":"003000000000001AAA","success":true,"errors":[],"created":true},
 {"id":"003000000000002AAA","success":true,"errors":[],"created":false},
 {"id":null,"success":false,"errors":[{"statusCode":"REQUIRED_FIELD_MISSING","message":"Required fields are missing: [LastName]","fields":["LastName"]}]},
 {"success":false,"errors":[{"statusCode":"DUPLICATES_DETECTED","message":"Use one of these records?","fields":[]}]},
 {"success":false,"errors":[{"statusCode":"DUPLICATES_DETECTED","message":"x","duplicateResut":{"allowSave":false,"duplicateRule":"R","matchResults":[]}}]}]`)
	var res []SaveResult
	if err := decode(call{}, &response{status: 200, body: body}, &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 5 {
		t.Fatalf("%d results", len(res))
	}
	if !res[0].Created || !res[0].Success || res[0].ID != "003000000000001AAA" || res[1].Created {
		t.Errorf("success rows: %+v %+v", res[0], res[1])
	}
	if res[2].ID != "" || res[2].Success || res[2].Errors[0].StatusCode != "REQUIRED_FIELD_MISSING" || res[2].Errors[0].Fields[0] != "LastName" {
		t.Errorf("failure row: %+v", res[2])
	}
	if res[3].Errors[0].Class() != ClassDuplicate || res[3].Errors[0].DuplicateResult != nil {
		t.Errorf("dup row: %+v", res[3])
	}
	if d := res[4].Errors[0].DuplicateResult; d == nil || d.DuplicateRule != "R" || d.AllowSave {
		t.Errorf("dup row with result: %+v", res[4].Errors[0])
	}
}

func TestParseUsage(t *testing.T) {
	tests := []struct {
		h         string
		used, max int
		ok        bool
	}{
		{"api-usage=10018/100000", 10018, 100000, true},
		{"api-usage=17/250; per-app-api-usage=17/250(appName=x)", 17, 250, true},
		{"per-app-api-usage=1/2(appName=x), api-usage=3/4", 3, 4, true},
		{"api-usage=1/750; api-bursts=1/750", 1, 750, true},
		{"", 0, 0, false},
		{"api-usage=x/2", 0, 0, false},
	}
	for _, tt := range tests {
		u, m, ok := parseUsage(tt.h)
		if u != tt.used || m != tt.max || ok != tt.ok {
			t.Errorf("parseUsage(%q) = %d, %d, %v", tt.h, u, m, ok)
		}
	}
}

func TestDuplicateRuleHeaderString(t *testing.T) {
	got := DuplicateRuleHeader{AllowSave: true, IncludeRecordDetails: true}.String()
	if want := "allowSave=true; includeRecordDetails=true; runAsCurrentUser=false"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		e    *APIError
		want bool
	}{
		{&APIError{StatusCode: 503, ErrorCode: "SERVER_UNAVAILABLE"}, true},
		{&APIError{StatusCode: 503}, true},
		{&APIError{StatusCode: 502}, true},
		{&APIError{StatusCode: 400, ErrorCode: "UNABLE_TO_LOCK_ROW"}, true},
		{&APIError{StatusCode: 500}, false},
		{&APIError{StatusCode: 504}, false},
		{&APIError{StatusCode: 400, ErrorCode: "QUERY_TIMEOUT"}, false},
	}
	for _, tt := range tests {
		if got := refused(tt.e); got != tt.want {
			t.Errorf("refused(%v) = %v", tt.e, got)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no login url", Config{ClientID: "a", ClientSecret: "b"}, "LoginURL"},
		{"bad scheme", Config{LoginURL: "ftp://x", ClientID: "a", ClientSecret: "b"}, "LoginURL"},
		{"no client id", Config{LoginURL: "http://x"}, "SF_CLIENT_ID"}, // issue 10: named as the user sets it
		{"no secret", Config{LoginURL: "http://x", ClientID: "a"}, "ClientSecret"},
		{"bad auth", Config{LoginURL: "http://x", ClientID: "a", Auth: "password"}, "Auth"},
		{"jwt no user", Config{LoginURL: "http://x", ClientID: "a", Auth: "jwt"}, "Username"},
		{"jwt no key", Config{LoginURL: "http://x", ClientID: "a", Auth: "jwt", Username: "u"}, "PrivateKey"},
		{"jwt bad key", Config{LoginURL: "http://x", ClientID: "a", Auth: "jwt", Username: "u", PrivateKey: []byte("nope")}, "PrivateKey"},
		{"jwt missing file", Config{LoginURL: "http://x", ClientID: "a", Auth: "jwt", Username: "u", PrivateKeyFile: "/nonexistent/key.pem"}, "PrivateKeyFile"},
		{"bad version", Config{LoginURL: "http://x", ClientID: "a", ClientSecret: "b", APIVersion: "sixty"}, "APIVersion"},
		{"bad concurrency", Config{LoginURL: "http://x", ClientID: "a", ClientSecret: "b", MaxConcurrency: -1}, "MaxConcurrency"},
		{"bad call options", Config{LoginURL: "http://x", ClientID: "a", ClientSecret: "b", CallOptionsClient: "a;b"}, "CallOptionsClient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg.withDefaults()
			err := cfg.validate()
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("validate() = %v, want an error naming %s", err, tt.field)
			}
		})
	}
	ok := Config{LoginURL: "http://x/", ClientID: "a", ClientSecret: "b", APIVersion: "v59.0"}.withDefaults()
	if err := ok.validate(); err != nil {
		t.Fatal(err)
	}
	if ok.APIVersion != "59.0" || ok.MaxConcurrency != 24 || ok.LoginURL != "http://x" || ok.Audience != DefaultAudience {
		t.Errorf("defaults: %+v", ok)
	}
}

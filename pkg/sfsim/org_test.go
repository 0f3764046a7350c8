package sfsim_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

// TestUserInfoAndUser is what `sf org login access-token` asks (issue 12):
// the OpenID userinfo of the token, then the User record it names.
func TestUserInfoAndUser(t *testing.T) {
	o := start(t, sfsim.Config{RestrictedClients: map[string]string{"steward": "s3cret"}})
	r := o.do("GET", "/services/oauth2/userinfo", nil)
	if r.status != 200 {
		t.Fatalf("userinfo: %d %s", r.status, r.body)
	}
	ui := r.obj(t)
	uid, orgID := str(ui["user_id"]), str(ui["organization_id"])
	if !strings.HasPrefix(uid, "005") || !strings.HasPrefix(orgID, "00D") || ui["preferred_username"] != sfsim.Username ||
		ui["sub"] != "https://login.salesforce.com/id/"+orgID+"/"+uid {
		t.Errorf("userinfo %v", ui)
	}
	u := o.do("GET", "/services/data/v51.0/sobjects/User/"+uid, nil)
	if m := u.obj(t); u.status != 200 || m["Username"] != sfsim.Username || m["IsActive"] != true {
		t.Errorf("User: %d %s", u.status, u.body)
	}
	if r := o.doAs("bogus", "GET", "/services/oauth2/userinfo", nil); r.status != 403 {
		t.Errorf("userinfo with a bad token: %d", r.status)
	}

	// Another client is its own user; its writes carry its Id.
	other := o.login("steward", "s3cret")
	oi := o.doAs(other, "GET", "/services/oauth2/userinfo", nil).obj(t)
	if oi["user_id"] == uid || oi["preferred_username"] != "steward@sfsim.invalid" {
		t.Errorf("second client's userinfo %v", oi)
	}
	if again := o.doAs(o.login("steward", "s3cret"), "GET", "/services/oauth2/userinfo", nil).obj(t); again["user_id"] != oi["user_id"] {
		t.Errorf("a second session of one client is another user: %v vs %v", again["user_id"], oi["user_id"])
	}
	cr := o.doAs(other, "POST", v60+"/sobjects/Contact", map[string]any{"LastName": "ByStew"})
	if cr.status != 201 {
		t.Fatalf("create: %d %s", cr.status, cr.body)
	}
	rec := o.do("GET", v60+"/sobjects/Contact/"+str(cr.obj(t)["id"]), nil).obj(t)
	if rec["CreatedById"] != oi["user_id"] || rec["LastModifiedById"] != oi["user_id"] {
		t.Errorf("CreatedById %v, want the steward's user %v", rec["CreatedById"], oi["user_id"])
	}
	if n := len(o.srv.Records("User")); n != 2 {
		t.Errorf("%d users, want 2", n)
	}
}

// TestOrganizationAndSystemObjects: the Organization row every sf command
// queries, and the system objects refusing writes.
func TestOrganizationAndSystemObjects(t *testing.T) {
	o := start(t, sfsim.Config{})
	q := "SELECT Name, InstanceName, IsSandbox, TrialExpirationDate, NamespacePrefix, OrganizationType FROM Organization"
	r := o.do("GET", queryPath(q), nil)
	m := r.obj(t)
	recs, _ := m["records"].([]any)
	if r.status != 200 || len(recs) != 1 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	org := recs[0].(map[string]any)
	if org["Name"] != sfsim.OrgName || org["IsSandbox"] != false || org["NamespacePrefix"] != nil ||
		org["TrialExpirationDate"] != nil || org["OrganizationType"] != "Developer Edition" {
		t.Errorf("Organization %v", org)
	}
	orgID := str(org["attributes"].(map[string]any)["url"])
	orgID = orgID[strings.LastIndexByte(orgID, '/')+1:]
	if ui := o.do("GET", "/services/oauth2/userinfo", nil).obj(t); ui["organization_id"] != orgID {
		t.Errorf("Organization Id %s, userinfo says %v", orgID, ui["organization_id"])
	}
	users := o.srv.Records("User")
	prof := o.do("GET", queryPath("SELECT Id, Name FROM Profile"), nil).obj(t)["records"].([]any)
	if len(users) != 1 || len(prof) != 1 || users[0]["ProfileId"] != prof[0].(map[string]any)["Id"] {
		t.Errorf("users %v, profiles %v", users, prof)
	}
	uid := str(users[0]["Id"])
	o.do("POST", v60+"/sobjects/Organization", map[string]any{}).topError(t, 400, "INVALID_TYPE_FOR_OPERATION")
	o.do("PATCH", v60+"/sobjects/User/"+uid, map[string]any{}).topError(t, 400, "INVALID_TYPE_FOR_OPERATION")
	o.do("DELETE", v60+"/sobjects/User/"+uid, nil).topError(t, 400, "INVALID_TYPE_FOR_OPERATION")
	o.do("PATCH", v60+"/sobjects/User/"+uid, map[string]any{"Username": "x@y.z"}).topError(t, 400, "INVALID_FIELD_FOR_INSERT_UPDATE")
	if n := len(o.srv.Records("User")); n != 1 {
		t.Errorf("%d users after refused writes", n)
	}
	// Reset keeps the org and its integration user.
	o.srv.Reset()
	if len(o.srv.Records("Organization")) != 1 || len(o.srv.Records("User")) != 1 {
		t.Errorf("after Reset: %d orgs, %d users", len(o.srv.Records("Organization")), len(o.srv.Records("User")))
	}
}

// TestDoubledSlash: after login the CLI asks //services/data/…, which a
// real org serves.
func TestDoubledSlash(t *testing.T) {
	o := start(t, sfsim.Config{})
	r := o.do("GET", "//services/data/v60.0//query?q="+url.QueryEscape("SELECT Id FROM User"), nil)
	if r.status != 200 || r.obj(t)["totalSize"] != 1.0 {
		t.Errorf("//services/data: %d %s", r.status, r.body)
	}
	if r := o.do("GET", "//services/data", nil); r.status != 200 {
		t.Errorf("//services/data: %d", r.status)
	}
}

// TestQueryColumns is GET /query?q=…&columns=true, which sf data query
// sends after every query to learn what to print.
func TestQueryColumns(t *testing.T) {
	o := start(t, sfsim.Config{})
	q := "SELECT Id, Email, External_Contact_ID__c FROM Contact"
	r := o.do("GET", queryPath(q)+"&columns=true", nil)
	m := r.obj(t)
	if r.status != 200 || m["entityName"] != "Contact" || m["idSelected"] != true || m["groupBy"] != false || m["keyPrefix"] != "003" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var got []string
	for _, x := range m["columnMetadata"].([]any) {
		c := x.(map[string]any)
		got = append(got, str(c["columnName"])+"/"+str(c["displayName"])+"/"+str(c["apexType"]))
		if c["aggregate"] != false || c["joinColumns"] == nil {
			t.Errorf("column %v", c)
		}
	}
	if want := "Id/Id/Id Email/Email/String External_Contact_ID__c/External_Contact_ID__c/String"; strings.Join(got, " ") != want {
		t.Errorf("columns %v, want %s", got, want)
	}
	m = o.do("GET", queryPath("SELECT LastName, COUNT(Id), COUNT(Email) n FROM Contact GROUP BY LastName")+"&columns=true", nil).obj(t)
	got = nil
	for _, x := range m["columnMetadata"].([]any) {
		c := x.(map[string]any)
		got = append(got, fmt.Sprintf("%s/%s/%v", c["columnName"], c["displayName"], c["aggregate"]))
	}
	if want := "LastName/LastName/false expr0/COUNT(Id)/true n/n/true"; strings.Join(got, " ") != want || m["groupBy"] != true {
		t.Errorf("aggregate columns %v (groupBy %v), want %s", got, m["groupBy"], want)
	}
	o.do("GET", queryPath("SELECT Nope FROM Contact")+"&columns=true", nil).topError(t, 400, "INVALID_FIELD")
	if st := o.srv.Stats(); st.Records["Contact"] != 0 {
		t.Errorf("columns=true wrote records")
	}
}

// TestQueryAttributesURLWithoutId: every record names its URL, Id selected
// or not (sf data export tree depends on it).
func TestQueryAttributesURLWithoutId(t *testing.T) {
	o := start(t, sfsim.Config{})
	id, err := o.srv.Insert("Contact", map[string]any{"LastName": "NoId", extField: "U1"})
	if err != nil {
		t.Fatal(err)
	}
	rec := o.do("GET", queryPath("SELECT LastName FROM Contact"), nil).obj(t)["records"].([]any)[0].(map[string]any)
	if a := rec["attributes"].(map[string]any); a["url"] != v60+"/sobjects/Contact/"+id || rec["Id"] != nil {
		t.Errorf("record %v", rec)
	}
}

// TestRecordCount is GET /limits/recordCount (sf org list sobject record-counts).
func TestRecordCount(t *testing.T) {
	o := start(t, sfsim.Config{})
	for _, e := range []string{"R1", "R2"} {
		if _, err := o.srv.Insert("Contact", map[string]any{"LastName": "C", extField: e}); err != nil {
			t.Fatal(err)
		}
	}
	m := o.do("GET", v60+"/limits/recordCount?sObjects=Contact,User,Nope__c", nil).obj(t)
	var got []string
	for _, x := range m["sObjects"].([]any) {
		c := x.(map[string]any)
		got = append(got, fmt.Sprint(c["name"], "=", c["count"]))
	}
	if strings.Join(got, " ") != "Contact=2 User=1" {
		t.Errorf("record counts %v", got)
	}
}

// TestSingleAccess is the frontdoor URL `sf org open` asks for.
func TestSingleAccess(t *testing.T) {
	o := start(t, sfsim.Config{})
	r := o.do("GET", "/services/oauth2/singleaccess?redirect_uri="+url.QueryEscape("/lightning/setup"), nil)
	fd := str(r.obj(t)["frontdoor_uri"])
	u, err := url.Parse(fd)
	if r.status != 200 || err != nil || !strings.HasPrefix(fd, o.srv.URL()+"/secur/frontdoor.jsp?") ||
		u.Query().Get("otp") == "" || u.Query().Get("startURL") != "/lightning/setup" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if p := o.doAs("", "GET", fd, nil); p.status != 200 || !strings.Contains(string(p.body), "no user interface") {
		t.Errorf("frontdoor page: %d %s", p.status, p.body)
	}
	if r := o.doAs("bogus", "GET", "/services/oauth2/singleaccess", nil); r.status != 403 {
		t.Errorf("bad token: %d", r.status)
	}
}

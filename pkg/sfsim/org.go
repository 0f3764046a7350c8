package sfsim

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The emulator's org has three system objects besides the schema's: one
// Organization row (the org itself, Id = the 00D… in every token), a User
// per identity that logs in, and one Profile all users have. Tools query both before anything else:
// the Salesforce CLI asks /services/oauth2/userinfo and GET
// /sobjects/User/{user_id} for the username on `sf org login access-token`,
// and SELECT … FROM Organization for the org's edition on every command.
// `sf org list users` reads User.ProfileId and Profile.Name. The system
// objects are read-only through the API.

// systemObjects returns the Organization, User and Profile objects, with the fields
// the Salesforce CLI and jsforce read. A schema that defines an object of
// the same name (or key prefix) keeps its own.
func systemObjects() []Object {
	ro := func(f Field) Field { f.ReadOnly = true; return f }
	return []Object{
		{Name: "Organization", KeyPrefix: "00D", Fields: []Field{
			ro(Field{Name: "Name", Type: "string", Length: 80}),
			ro(Field{Name: "InstanceName", Type: "string", Length: 5}),
			ro(Field{Name: "IsSandbox", Type: "boolean"}),
			ro(Field{Name: "TrialExpirationDate", Type: "datetime"}),
			ro(Field{Name: "NamespacePrefix", Type: "string", Length: 15}),
			ro(Field{Name: "OrganizationType", Label: "Edition", Type: "picklist"}),
			ro(Field{Name: "LanguageLocaleKey", Label: "Language", Type: "picklist"}),
			ro(Field{Name: "DefaultLocaleSidKey", Label: "Locale", Type: "picklist"}),
			ro(Field{Name: "TimeZoneSidKey", Label: "Time Zone", Type: "picklist"}),
		}},
		{Name: "User", KeyPrefix: "005", Fields: []Field{
			ro(Field{Name: "Username", Type: "string", Length: 80, Unique: ptr(true), CaseSensitive: ptr(false)}),
			ro(Field{Name: "FirstName", Type: "string", Length: 40}),
			ro(Field{Name: "LastName", Type: "string", Length: 80}),
			ro(Field{Name: "Email", Type: "email", Length: 128}),
			ro(Field{Name: "Alias", Type: "string", Length: 8}),
			ro(Field{Name: "IsActive", Label: "Active", Type: "boolean"}),
			ro(Field{Name: "UserType", Type: "picklist"}),
			ro(Field{Name: "TimeZoneSidKey", Label: "Time Zone", Type: "picklist"}),
			ro(Field{Name: "LocaleSidKey", Label: "Locale", Type: "picklist"}),
			ro(Field{Name: "LanguageLocaleKey", Label: "Language", Type: "picklist"}),
			ro(Field{Name: "ProfileId", Label: "Profile ID", Type: "reference", ReferenceTo: "Profile"}),
		}},
		{Name: "Profile", KeyPrefix: "00e", Fields: []Field{
			ro(Field{Name: "Name", Type: "string", Length: 255}),
			ro(Field{Name: "UserType", Type: "picklist"}),
		}},
	}
}

// ProfileName is the Name of the one Profile every emulator user has.
const ProfileName = "System Administrator"

// OrgName is the Name of the emulator's Organization row.
const OrgName = "contactsync emulator"

// orgUser is the User a session acts as.
type orgUser struct {
	id, username string
}

// seedSystemRecords stores the Organization row and the integration user.
// Called with s.mu held (or before serving).
func (s *Server) seedSystemRecords() {
	now := time.Now()
	if o := s.model.object("Organization"); o != nil && o.system {
		s.seedRecord(o, s.orgID, map[string]any{
			"Name": OrgName, "InstanceName": "SIM1", "IsSandbox": false, "NamespacePrefix": nil,
			// A Developer Edition org without a trial end: the CLI then
			// reports neither a sandbox nor a scratch org.
			"OrganizationType": "Developer Edition", "LanguageLocaleKey": "en_US",
			"DefaultLocaleSidKey": "en_US", "TimeZoneSidKey": "GMT",
		}, now)
	}
	if o := s.model.object("Profile"); o != nil && o.system {
		s.seedRecord(o, s.profileID(), map[string]any{"Name": ProfileName, "UserType": "Standard"}, now)
	}
	s.seedUser(s.userID, Username, "Integration", now)
}

func (s *Server) profileID() string { return makeID("00e", 1) }

// seedUser stores a User row (no-op when the schema has its own User).
func (s *Server) seedUser(id, username, lastName string, now time.Time) {
	o := s.model.object("User")
	if o == nil || !o.system {
		return
	}
	alias := strings.ToLower(username)
	if i := strings.IndexByte(alias, '@'); i >= 0 {
		alias = alias[:i]
	}
	if len(alias) > 8 {
		alias = alias[:8]
	}
	s.seedRecord(o, id, map[string]any{
		"Username": username, "FirstName": "contactsync", "LastName": lastName, "Email": Username,
		"Alias": alias, "IsActive": true, "UserType": "Standard", "TimeZoneSidKey": "GMT",
		"LocaleSidKey": "en_US", "LanguageLocaleKey": "en_US", "ProfileId": s.profileID(),
	}, now)
}

func (s *Server) seedRecord(o *objectInfo, id string, vals map[string]any, now time.Time) {
	w := &writeOpts{seed: true, integration: true, version: maxVersion, now: now, userID: s.userID}
	os := s.objs[o]
	r := &record{id: id, key: id[:15], f: o.build(nil, id, vals, w)}
	os.insert(r, nil)
}

// userFor returns the User a new session acts as, creating it on first
// use: the integration client (Config.ClientID) is the integration user
// (Username); a JWT bearer subject is the user of that username; another
// client_credentials client is its own run-as user, <client id>@sfsim.invalid.
func (s *Server) userFor(login string, jwt bool) orgUser {
	username := Username
	switch {
	case jwt && login != "":
		username = login
	case !jwt && login != s.cfg.ClientID:
		username = strings.ToLower(login) + "@sfsim.invalid"
	}
	if strings.EqualFold(username, Username) {
		return orgUser{id: s.userID, username: Username}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.model.object("User")
	if o == nil || !o.system {
		return orgUser{id: s.userID, username: username}
	}
	os := s.objs[o]
	if rs := os.lookup(o.byName["Username"], username); len(rs) > 0 {
		return orgUser{id: rs[0].id, username: username}
	}
	// +1: sequence number 1 is the integration user's (s.userID).
	id := makeID("005", s.idSeq.Add(1)+1)
	s.seedUser(id, username, "User", time.Now())
	return orgUser{id: id, username: username}
}

// errSystemObject refuses a write to Organization or User. The code and
// message are those of a write to an object that is not createable (not
// confirmed against a real org for these two objects).
func errSystemObject(o *objectInfo, verb string) *apiError {
	return newErr(http.StatusBadRequest, "INVALID_TYPE_FOR_OPERATION", "entity type cannot be "+verb+": "+o.name)
}

// serveUserInfo is GET /services/oauth2/userinfo: the OpenID Connect
// claims of the session's user, in Salesforce's shape.
func (s *Server) serveUserInfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		oauthErr(w, http.StatusMethodNotAllowed, "invalid_request", "must use HTTP GET or POST")
		return
	}
	sess := s.authenticate(r)
	if sess == nil {
		// Salesforce answers a bad token here with a plain 403 "Bad_OAuth_Token".
		w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("Bad_OAuth_Token"))
		return
	}
	base := s.url + "/services/data/v{version}/"
	name := "contactsync Integration"
	if sess.userID != s.userID {
		name = "contactsync User"
	}
	s.write(w, jsonResp(http.StatusOK, map[string]any{
		"sub":                "https://login.salesforce.com/id/" + s.orgID + "/" + sess.userID,
		"user_id":            sess.userID,
		"organization_id":    s.orgID,
		"preferred_username": sess.username,
		"nickname":           strings.SplitN(sess.username, "@", 2)[0],
		"name":               name,
		"email":              Username,
		"email_verified":     true,
		"given_name":         "contactsync",
		"family_name":        strings.TrimPrefix(name, "contactsync "),
		"zoneinfo":           "GMT",
		"locale":             "en_US",
		"language":           "en_US",
		"user_type":          "STANDARD",
		"active":             true,
		"is_app_installed":   true,
		"utcOffset":          0,
		"updated_at":         time.Now().UTC().Format(time.RFC3339),
		"urls": map[string]string{
			"rest":     base,
			"sobjects": base + "sobjects/",
			"query":    base + "query/",
			"limits":   base + "limits/",
			"profile":  s.url + "/" + sess.userID,
		},
	}))
}

// serveSingleAccess is /services/oauth2/singleaccess (the UI Bridge API
// `sf org open` asks for a one-time frontdoor URL): a frontdoor_uri on the
// emulator, 403 for a bad token as Salesforce answers. The emulator has no
// user interface; the frontdoor page only says so (the otp is not checked:
// the page shows no data).
func (s *Server) serveSingleAccess(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		oauthErr(w, http.StatusMethodNotAllowed, "invalid_request", "must use HTTP GET or POST")
		return
	}
	if s.authenticate(r) == nil {
		w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("Bad_OAuth_Token"))
		return
	}
	var otp [24]byte
	_, _ = rand.Read(otp[:])
	q := url.Values{"otp": {base64.RawURLEncoding.EncodeToString(otp[:])}}
	if ru := r.URL.Query().Get("redirect_uri"); ru != "" {
		q.Set("startURL", ru)
	}
	s.write(w, jsonResp(http.StatusOK, map[string]string{"frontdoor_uri": s.url + "/secur/frontdoor.jsp?" + q.Encode()}))
}

// serveFrontdoor is /secur/frontdoor.jsp: a page telling a browser opened
// by `sf org open` that the emulator has only the API.
func (s *Server) serveFrontdoor(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`<!doctype html><title>sfsim</title><p>This is the contactsync Salesforce emulator (sfsim): it has no user interface. ` +
		`The REST API is at <code>/services/data</code>; <code>/__sfsim/stats</code> shows what it holds.</p>`))
}

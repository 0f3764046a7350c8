package sfsim_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

func TestClientCredentialsToken(t *testing.T) {
	o := start(t, sfsim.Config{})
	code, m := o.tokenCall(url.Values{"grant_type": {"client_credentials"}, "client_id": {"contactsync"}, "client_secret": {"contactsync-secret"}})
	if code != 200 {
		t.Fatalf("status %d: %v", code, m)
	}
	for _, k := range []string{"access_token", "instance_url", "id", "issued_at", "signature", "token_type", "scope"} {
		if str(m[k]) == "" {
			t.Errorf("token response lacks %s: %v", k, m)
		}
	}
	if _, ok := m["expires_in"]; ok {
		t.Error("token response has expires_in; Salesforce sends none")
	}
	if m["instance_url"] != o.srv.URL() || m["token_type"] != "Bearer" {
		t.Errorf("instance_url %v, token_type %v", m["instance_url"], m["token_type"])
	}
	if r := o.doAs(str(m["access_token"]), "GET", v60+"/limits", nil); r.status != 200 {
		t.Errorf("new token refused: %d %s", r.status, r.body)
	}
}

func TestTokenErrors(t *testing.T) {
	o := start(t, sfsim.Config{})
	tests := []struct {
		name       string
		form       url.Values
		code, desc string
	}{
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {"contactsync"}, "client_secret": {"nope"}}, "invalid_client", "invalid client credentials"},
		{"unknown client", url.Values{"grant_type": {"client_credentials"}, "client_id": {"who"}, "client_secret": {"contactsync-secret"}}, "invalid_client_id", "client identifier invalid"},
		{"unknown grant", url.Values{"grant_type": {"password"}}, "unsupported_grant_type", "grant type not supported"},
		{"no grant", url.Values{}, "unsupported_grant_type", "grant type not supported"},
		{"jwt disabled", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"a.b.c"}}, "unsupported_grant_type", "grant type not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, m := o.tokenCall(tt.form)
			if code != 400 || m["error"] != tt.code || m["error_description"] != tt.desc || len(m) != 2 {
				t.Errorf("got %d %v, want 400 {error:%s error_description:%s}", code, m, tt.code, tt.desc)
			}
		})
	}
}

// signJWT builds an RS256 assertion.
func signJWT(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + enc.EncodeToString(sig)
}

func TestJWTBearer(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// the emulator accepts a certificate as well as a bare public key
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "contactsync"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	o := start(t, sfsim.Config{JWTCertPEM: certPEM})

	now := time.Now()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": "contactsync", "sub": "integration@example.com", "aud": "https://login.salesforce.com", "exp": now.Add(3 * time.Minute).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	tests := []struct {
		name   string
		key    *rsa.PrivateKey
		claims map[string]any
		code   string // "" = success
	}{
		{"login audience", key, claims(nil), ""},
		{"test audience", key, claims(func(c map[string]any) { c["aud"] = "https://test.salesforce.com" }), ""},
		{"emulator audience", key, claims(func(c map[string]any) { c["aud"] = o.srv.URL() }), ""},
		{"wrong key", other, claims(nil), "invalid_grant"},
		{"wrong issuer", key, claims(func(c map[string]any) { c["iss"] = "someone" }), "invalid_client_id"},
		{"wrong audience", key, claims(func(c map[string]any) { c["aud"] = "https://example.com" }), "invalid_grant"},
		{"expired", key, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }), "invalid_grant"},
		{"lifetime too long", key, claims(func(c map[string]any) { c["exp"] = now.Add(time.Hour).Unix() }), "invalid_grant"},
		{"milliseconds, as the Salesforce CLI sends", key, claims(func(c map[string]any) { c["exp"] = now.UnixMilli() + 300 }), ""},
		{"milliseconds, long expired", key, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).UnixMilli() }), "invalid_grant"},
		{"milliseconds, lifetime too long", key, claims(func(c map[string]any) { c["exp"] = now.Add(time.Hour).UnixMilli() }), "invalid_grant"},
		{"no subject", key, claims(func(c map[string]any) { delete(c, "sub") }), "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, m := o.tokenCall(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
				"assertion": {signJWT(t, tt.key, tt.claims)}})
			if tt.code == "" {
				if code != 200 || m["instance_url"] != o.srv.URL() || str(m["access_token"]) == "" {
					t.Fatalf("got %d %v", code, m)
				}
				if _, ok := m["expires_in"]; ok {
					t.Error("expires_in present")
				}
				if r := o.doAs(str(m["access_token"]), "GET", v60+"/limits", nil); r.status != 200 {
					t.Errorf("JWT session refused: %d", r.status)
				}
				return
			}
			if code != 400 || m["error"] != tt.code || str(m["error_description"]) == "" {
				t.Errorf("got %d %v, want 400 %s", code, m, tt.code)
			}
		})
	}
	t.Run("milliseconds refused when configured", func(t *testing.T) {
		strict := start(t, sfsim.Config{JWTCertPEM: certPEM, JWTRejectMillisecondExp: true})
		code, m := strict.tokenCall(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
			"assertion": {signJWT(t, key, claims(func(c map[string]any) { c["exp"] = time.Now().UnixMilli() + 300 }))}})
		if code != 400 || m["error"] != "invalid_grant" {
			t.Errorf("got %d %v", code, m)
		}
	})
	t.Run("garbage assertion", func(t *testing.T) {
		code, m := o.tokenCall(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"not.a.jwt"}})
		if code != 400 || m["error"] != "invalid_grant" {
			t.Errorf("got %d %v", code, m)
		}
	})
}

func TestSessionExpiry(t *testing.T) {
	assertExpired := func(t *testing.T, r reply) {
		t.Helper()
		e := r.topError(t, 401, "INVALID_SESSION_ID")
		if e["message"] != "Session expired or invalid" {
			t.Errorf("message %v", e["message"])
		}
	}
	t.Run("ExpireSessions", func(t *testing.T) {
		o := start(t, sfsim.Config{})
		if r := o.do("GET", v60+"/limits", nil); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		o.srv.ExpireSessions()
		assertExpired(t, o.do("GET", v60+"/limits", nil))
		o.token = o.login("contactsync", "contactsync-secret")
		if r := o.do("GET", v60+"/limits", nil); r.status != 200 {
			t.Fatalf("after a new token: %d", r.status)
		}
	})
	t.Run("admin expire-sessions", func(t *testing.T) {
		o := start(t, sfsim.Config{})
		if r := o.doAs("", "POST", "/__sfsim/expire-sessions", nil); r.status != 200 || r.obj(t)["expired"] != 1.0 {
			t.Fatalf("admin: %d %s", r.status, r.body)
		}
		assertExpired(t, o.do("GET", v60+"/limits", nil))
	})
	t.Run("idle timeout", func(t *testing.T) {
		o := start(t, sfsim.Config{SessionIdleTimeout: time.Nanosecond})
		assertExpired(t, o.do("GET", v60+"/limits", nil))
	})
	t.Run("no or unknown token", func(t *testing.T) {
		o := start(t, sfsim.Config{})
		assertExpired(t, o.doAs("", "GET", v60+"/limits", nil))
		assertExpired(t, o.doAs("00Dxx!bogus", "GET", v60+"/sobjects/Contact", nil))
	})
}

func TestAPIVersions(t *testing.T) {
	o := start(t, sfsim.Config{})
	for _, tt := range []struct {
		v    string
		want int
	}{{"v44.0", 404}, {"v45.0", 200}, {"v52.0", 200}, {"v60.0", 200}, {"v62.0", 200}, {"v63.0", 404}, {"v60.1", 404}, {"60.0", 404}} {
		r := o.do("GET", "/services/data/"+tt.v+"/limits", nil)
		if r.status != tt.want {
			t.Errorf("%s: status %d, want %d", tt.v, r.status, tt.want)
		}
		if tt.want == 404 {
			r.topError(t, 404, "NOT_FOUND")
		}
	}
	r := o.doAs("", "GET", "/services/data", nil)
	if l := r.list(t); r.status != 200 || len(l) != 18 || l[0].(map[string]any)["version"] != "45.0" || l[17].(map[string]any)["version"] != "62.0" {
		t.Errorf("versions: %d %s", r.status, r.body)
	}
}

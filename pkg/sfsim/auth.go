package sfsim

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// session is a live access token.
type session struct {
	integration bool   // holds the integration custom permission
	user        string // the client id, or the JWT subject
	userID      string // the User the session acts as (org.go)
	username    string
	last        time.Time
}

const grantJWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// maxJWTLifetime is how far ahead a JWT's exp may be (Salesforce rejects
// long-lived assertions; clients use about 3 minutes).
const maxJWTLifetime = 5*time.Minute + 30*time.Second

// jwtMillisecondExp: an exp above it (year 5138 in seconds) is read as
// milliseconds, and may be used up to jwtMillisecondGrace after it.
const (
	jwtMillisecondExp   = 1e11
	jwtMillisecondGrace = 3 * time.Minute
)

func oauthErr(w http.ResponseWriter, status int, code, desc string) {
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// serveToken is POST /services/oauth2/token.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthErr(w, http.StatusMethodNotAllowed, "invalid_request", "must use HTTP POST")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		oauthErr(w, http.StatusBadRequest, "invalid_request", "invalid request body")
		return
	}
	host := strings.ToLower(r.Host)
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
		if strings.HasPrefix(host, "login.salesforce.com") || strings.HasPrefix(host, "test.salesforce.com") {
			oauthErr(w, http.StatusBadRequest, "invalid_grant", "request not supported on this domain")
			return
		}
		id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		if bid, bsecret, ok := r.BasicAuth(); ok && id == "" {
			id, secret = bid, bsecret
		}
		integration := id == s.cfg.ClientID
		want, known := s.cfg.RestrictedClients[id]
		if integration {
			want, known = s.cfg.ClientSecret, true
		}
		if !known {
			oauthErr(w, http.StatusBadRequest, "invalid_client_id", "client identifier invalid")
			return
		}
		if subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 {
			oauthErr(w, http.StatusBadRequest, "invalid_client", "invalid client credentials")
			return
		}
		s.issue(w, id, integration, false)
	case grantJWT:
		if s.jwtKey == nil {
			oauthErr(w, http.StatusBadRequest, "unsupported_grant_type", "grant type not supported")
			return
		}
		sub, code, desc := s.verifyJWT(r.PostForm.Get("assertion"))
		if code != "" {
			oauthErr(w, http.StatusBadRequest, code, desc)
			return
		}
		s.issue(w, sub, true, true)
	default:
		oauthErr(w, http.StatusBadRequest, "unsupported_grant_type", "grant type not supported")
	}
}

// issue creates a session and writes the token response (§7: no expires_in;
// client_credentials responses carry a signature, JWT ones do not).
func (s *Server) issue(w http.ResponseWriter, user string, integration, jwt bool) {
	var raw [48]byte
	_, _ = rand.Read(raw[:])
	token := s.orgID[:15] + "!" + base64.RawURLEncoding.EncodeToString(raw[:])
	u := s.userFor(user, jwt)
	s.sessMu.Lock()
	s.sessions[token] = &session{integration: integration, user: user, userID: u.id, username: u.username, last: time.Now()}
	s.sessMu.Unlock()
	issuedAt := strconv.FormatInt(time.Now().UnixMilli(), 10)
	idURL := "https://login.salesforce.com/id/" + s.orgID + "/" + u.id
	resp := map[string]string{
		"access_token":     token,
		"instance_url":     s.url,
		"api_instance_url": s.url,
		"id":               idURL,
		"token_type":       "Bearer",
		"issued_at":        issuedAt,
		"scope":            "api",
	}
	if !jwt {
		mac := hmac.New(sha256.New, []byte(s.cfg.ClientSecret))
		mac.Write([]byte(idURL + issuedAt))
		resp["signature"] = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	b, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-cache,must-revalidate,max-age=0,no-store,private")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// verifyJWT checks an RS256 assertion: signature, iss = client id, sub set,
// aud = this emulator or login/test.salesforce.com, exp in the future and
// close. It returns the subject, or an OAuth error code and description.
func (s *Server) verifyJWT(assertion string) (sub, code, desc string) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "", "invalid_grant", "invalid assertion"
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "RS256" {
		return "", "invalid_grant", "invalid assertion"
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(s.jwtKey, crypto.SHA256, digest[:], sig) != nil {
		return "", "invalid_grant", "invalid assertion"
	}
	var cl struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp json.Number     `json:"exp"`
	}
	if json.Unmarshal(cb, &cl) != nil {
		return "", "invalid_grant", "invalid assertion"
	}
	if cl.Iss != s.cfg.ClientID {
		return "", "invalid_client_id", "client identifier invalid"
	}
	if cl.Sub == "" {
		return "", "invalid_grant", "invalid assertion"
	}
	var auds []string
	var one string
	if json.Unmarshal(cl.Aud, &one) == nil {
		auds = []string{one}
	} else if json.Unmarshal(cl.Aud, &auds) != nil {
		return "", "invalid_grant", "audience is invalid"
	}
	okAud := false
	for _, a := range auds {
		a = strings.TrimSuffix(a, "/")
		if a == s.url || a == "https://login.salesforce.com" || a == "https://test.salesforce.com" {
			okAud = true
		}
	}
	if !okAud {
		return "", "invalid_grant", "audience is invalid"
	}
	exp, err := cl.Exp.Float64()
	if err != nil {
		return "", "invalid_grant", "invalid assertion"
	}
	expT := time.Unix(int64(exp), 0)
	now := time.Now()
	if exp > jwtMillisecondExp {
		if s.cfg.JWTRejectMillisecondExp {
			return "", "invalid_grant", "invalid assertion: exp is too far in the future"
		}
		// The Salesforce CLI's millisecond exp (see
		// Config.JWTRejectMillisecondExp): 300 ms ahead, so give it a grace.
		expT = time.UnixMilli(int64(exp)).Add(jwtMillisecondGrace)
	}
	if !expT.After(now) {
		return "", "invalid_grant", "expired authorization code"
	}
	if expT.Sub(now) > maxJWTLifetime {
		return "", "invalid_grant", "invalid assertion: exp is too far in the future"
	}
	return cl.Sub, "", ""
}

// parsePublicKey reads an RSA public key from PEM: PUBLIC KEY (PKIX), RSA
// PUBLIC KEY (PKCS#1) or CERTIFICATE.
func parsePublicKey(data []byte) (*rsa.PublicKey, error) {
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM public key or certificate found")
		}
		data = rest
		var key any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				key = cert.PublicKey
			}
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", block.Type, err)
		}
		rk, ok := key.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%s: not an RSA key", block.Type)
		}
		return rk, nil
	}
}

// authenticate returns the live session of the request's bearer token, or
// nil. Using a session keeps it alive.
func (s *Server) authenticate(r *http.Request) *session {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !(strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "OAuth")) {
		return nil
	}
	token = strings.TrimSpace(token)
	now := time.Now()
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	sess := s.sessions[token]
	if sess == nil {
		return nil
	}
	if now.Sub(sess.last) > s.cfg.SessionIdleTimeout {
		delete(s.sessions, token)
		return nil
	}
	sess.last = now
	return sess
}

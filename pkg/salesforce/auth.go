package salesforce

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/jwt"
)

// session is one access token and the instance it is valid for.
type session struct {
	token       string
	instanceURL string
}

// authenticator caches the current session. Salesforce tokens carry no
// expires_in, so oauth2's Token.Valid() would stay true forever; instead the
// client calls refresh with the session a 401 INVALID_SESSION_ID came back
// for, and concurrent callers share one token request.
type authenticator struct {
	fetch   func(ctx context.Context) (*oauth2.Token, error)
	flow    string
	login   string
	log     *zap.Logger
	fetches atomic.Int64

	mu       sync.Mutex
	cur      *session
	inflight *fetchCall
}

type fetchCall struct {
	done chan struct{}
	s    *session
	err  error
}

func newAuthenticator(cfg Config, hc *http.Client) *authenticator {
	a := &authenticator{flow: cfg.Auth, login: cfg.LoginURL, log: cfg.Logger}
	tokenURL := cfg.LoginURL + "/services/oauth2/token"
	// Every token request goes through hc, with the caller's context attached
	// (x/oauth2/jwt posts without a context of its own).
	withClient := func(ctx context.Context) context.Context {
		return context.WithValue(ctx, oauth2.HTTPClient, &http.Client{
			Transport: ctxTransport{ctx: ctx, base: transportOf(hc)},
			Timeout:   hc.Timeout,
		})
	}
	switch cfg.Auth {
	case AuthJWT:
		jc := &jwt.Config{
			Email:      cfg.ClientID,
			Subject:    cfg.Username,
			PrivateKey: cfg.PrivateKey,
			TokenURL:   tokenURL,
			Audience:   cfg.Audience,
			Expires:    3 * time.Minute,
		}
		a.fetch = func(ctx context.Context) (*oauth2.Token, error) {
			// A fresh source per fetch: the ReuseTokenSource inside would
			// otherwise hand back the dead token.
			return jc.TokenSource(withClient(ctx)).Token()
		}
	default:
		cc := &clientcredentials.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			TokenURL:     tokenURL,
			AuthStyle:    oauth2.AuthStyleInParams,
		}
		a.fetch = func(ctx context.Context) (*oauth2.Token, error) {
			return cc.Token(withClient(ctx))
		}
	}
	return a
}

// session returns the cached session, fetching one if there is none.
func (a *authenticator) session(ctx context.Context) (*session, error) {
	a.mu.Lock()
	s := a.cur
	a.mu.Unlock()
	if s != nil {
		return s, nil
	}
	return a.refresh(ctx, nil)
}

// refresh replaces stale (the session a request was refused with) by a new
// one. If another caller already replaced it, or is replacing it now, that
// result is shared: a burst of 401s costs one token request.
func (a *authenticator) refresh(ctx context.Context, stale *session) (*session, error) {
	for {
		a.mu.Lock()
		if a.cur != nil && a.cur != stale {
			s := a.cur
			a.mu.Unlock()
			return s, nil
		}
		if call := a.inflight; call != nil {
			a.mu.Unlock()
			select {
			case <-call.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if call.err == nil {
				return call.s, nil
			}
			if isContextErr(call.err) && ctx.Err() == nil {
				continue // the leader gave up; try ourselves
			}
			return nil, call.err
		}
		call := &fetchCall{done: make(chan struct{})}
		a.inflight = call
		a.mu.Unlock()

		s, err := a.fetchSession(ctx)

		a.mu.Lock()
		if err == nil {
			a.cur = s
		}
		call.s, call.err = s, err
		a.inflight = nil
		a.mu.Unlock()
		close(call.done)
		return s, err
	}
}

func (a *authenticator) fetchSession(ctx context.Context) (*session, error) {
	n := a.fetches.Add(1)
	tok, err := a.fetch(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		ae := authError(err)
		a.log.Debug("salesforce: token request failed", zap.String("flow", a.flow),
			zap.Int("status", ae.StatusCode), zap.String("error_code", ae.Code))
		return nil, ae
	}
	if tok.AccessToken == "" {
		return nil, &AuthError{StatusCode: http.StatusOK, Code: "invalid_response", Description: "token response without access_token"}
	}
	inst, _ := tok.Extra("instance_url").(string)
	inst = strings.TrimRight(inst, "/")
	if inst == "" {
		inst = a.login
	}
	a.log.Info("salesforce: session established", zap.String("flow", a.flow),
		zap.String("instance_url", inst), zap.Int64("token_requests", n))
	return &session{token: tok.AccessToken, instanceURL: inst}, nil
}

// authError keeps the OAuth error code and description of a failed token
// request and drops everything else (bodies, request details).
func authError(err error) *AuthError {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		ae := &AuthError{Code: re.ErrorCode, Description: re.ErrorDescription}
		if re.Response != nil {
			ae.StatusCode = re.Response.StatusCode
		}
		if ae.Code == "" {
			var body struct {
				Error            string `json:"error"`
				ErrorDescription string `json:"error_description"`
			}
			if json.Unmarshal(re.Body, &body) == nil {
				ae.Code, ae.Description = body.Error, body.ErrorDescription
			}
		}
		if len(ae.Description) > 200 {
			ae.Description = ae.Description[:200]
		}
		return ae
	}
	return &AuthError{Err: err}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// ctxTransport attaches ctx to requests that were built without one.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Context() == context.Background() {
		r = r.WithContext(t.ctx)
	}
	return t.base.RoundTrip(r)
}

func transportOf(hc *http.Client) http.RoundTripper {
	if hc.Transport != nil {
		return hc.Transport
	}
	return http.DefaultTransport
}

func parseRSAKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("PKCS#8 key is not RSA")
		}
		return rk, nil
	}
	k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not an RSA private key in PKCS#1 or PKCS#8 form")
	}
	return k, nil
}

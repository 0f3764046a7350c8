// Package sfsimtest starts the Salesforce emulator for tests, as bustest does
// for JetStream: a real sfsim.Server on a loopback HTTP listener, the
// credentials that log in to it (as a salesforce.Config, a salesforce.Env or
// the SF_* variables), and clients of its integration user — all closed when
// the test ends.
//
//	org := sfsimtest.Start(t, sfsim.Config{})
//	sf := org.Client(t)                  // logged in, closed by t.Cleanup
//	cfg := org.Config                    // LoginURL, ClientID, ClientSecret
//	org.Setenv(t)                        // SF_LOGIN_URL, SF_CLIENT_ID, SF_CLIENT_SECRET
package sfsimtest

import (
	"context"
	"testing"

	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
)

// Org is a running emulator and what a client needs to reach it.
type Org struct {
	// Server is the emulator itself (URL, Stats, SetFaults, Insert,
	// Records…: its methods are Org's).
	*sfsim.Server
	// Config logs in as the integration user by client_credentials; copy
	// it and add a transport, logger or retry settings as a test needs.
	Config salesforce.Config
	// Env is the same as services read it from SF_* variables.
	Env salesforce.Env
}

// Start runs an emulator configured by cfg on 127.0.0.1 (a random port
// unless cfg.Addr says otherwise), closed at the end of the test. Its
// credentials are cfg's, or the emulator's defaults
// (sfsim.DefaultClientID / sfsim.DefaultClientSecret).
func Start(t testing.TB, cfg sfsim.Config) *Org {
	t.Helper()
	srv, err := sfsim.New(cfg)
	if err != nil {
		t.Fatalf("sfsim.New: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	id, secret := cfg.ClientID, cfg.ClientSecret
	if id == "" {
		id = sfsim.DefaultClientID
	}
	if secret == "" {
		secret = sfsim.DefaultClientSecret
	}
	return &Org{
		Server: srv,
		Config: salesforce.Config{LoginURL: srv.URL(), ClientID: id, ClientSecret: secret},
		Env: salesforce.Env{LoginURL: srv.URL(), Auth: salesforce.AuthClientCredentials,
			ClientID: id, ClientSecret: secret, APIVersion: salesforce.DefaultAPIVersion},
	}
}

// Client logs in a new client of the integration user (the org's System
// Administrator, holding the integration permission), closed at the end of
// the test. mod, when given, adjusts a copy of o.Config first.
func (o *Org) Client(t testing.TB, mod ...func(*salesforce.Config)) *salesforce.Client {
	t.Helper()
	cfg := o.Config
	for _, m := range mod {
		m(&cfg)
	}
	c, err := salesforce.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("salesforce.New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Setenv points the SF_* variables a service or CLI reads at this org
// (SF_LOGIN_URL, SF_CLIENT_ID, SF_CLIENT_SECRET), restored at the end of the
// test. Like t.Setenv, it cannot be used in parallel tests.
func (o *Org) Setenv(t testing.TB) {
	t.Helper()
	t.Setenv("SF_LOGIN_URL", o.URL())
	t.Setenv("SF_CLIENT_ID", o.Config.ClientID)
	t.Setenv("SF_CLIENT_SECRET", o.Config.ClientSecret)
}

package sfsimtest_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
)

func TestStartServesOverHTTPWithItsCredentials(t *testing.T) {
	org := sfsimtest.Start(t, sfsim.Config{})
	if u := org.URL(); !strings.HasPrefix(u, "http://127.0.0.1:") || org.Config.LoginURL != u || org.Env.LoginURL != u {
		t.Fatalf("URLs disagree: %q %q %q", u, org.Config.LoginURL, org.Env.LoginURL)
	}
	if err := org.Env.Validate(); err != nil {
		t.Fatalf("Env does not validate: %v", err)
	}
	sf := org.Client(t)
	if _, err := sf.UpsertCollection(context.Background(), "Contact", "External_Contact_ID__c",
		[]salesforce.Record{{"External_Contact_ID__c": "FX_1", "LastName": "Fixture"}}, salesforce.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The write went over the listener into the org this fixture returned.
	if recs := org.Records("Contact"); len(recs) != 1 || recs[0]["External_Contact_ID__c"] != "FX_1" {
		t.Fatalf("org holds %v", recs)
	}
	// A client built from Env logs in the same way.
	c, err := salesforce.New(context.Background(), org.Env.Config())
	if err != nil {
		t.Fatalf("client from Env: %v", err)
	}
	c.Close()
}

func TestStartUsesTheConfiguredCredentials(t *testing.T) {
	org := sfsimtest.Start(t, sfsim.Config{ClientID: "other-app", ClientSecret: "other-secret"})
	if org.Config.ClientID != "other-app" || org.Env.ClientSecret != "other-secret" {
		t.Fatalf("credentials %q/%q", org.Config.ClientID, org.Env.ClientSecret)
	}
	org.Client(t) // logs in, or fails the test
	wrong := org.Config
	wrong.ClientID = sfsim.DefaultClientID
	if _, err := salesforce.New(context.Background(), wrong); err == nil {
		t.Fatal("the default client ID logged in to an org configured with another one")
	}
}

func TestSetenv(t *testing.T) {
	org := sfsimtest.Start(t, sfsim.Config{})
	org.Setenv(t)
	for k, want := range map[string]string{"SF_LOGIN_URL": org.URL(), "SF_CLIENT_ID": sfsim.DefaultClientID, "SF_CLIENT_SECRET": sfsim.DefaultClientSecret} {
		if got := os.Getenv(k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
}

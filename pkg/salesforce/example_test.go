package salesforce_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log"

	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
)

// Client credentials against an in-process emulator; against an org,
// LoginURL is its My Domain URL.
func ExampleNew() {
	srv, err := sfsim.New(sfsim.Config{}) // accepts contactsync / contactsync-secret
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx := context.Background()
	c, err := salesforce.New(ctx, salesforce.Config{
		LoginURL:     srv.URL(),
		ClientID:     "contactsync",
		ClientSecret: "contactsync-secret",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	lim, err := c.Limits(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("instance is the emulator:", c.InstanceURL() == srv.URL())
	fmt.Println("daily API requests:", lim["DailyApiRequests"].Max)
	// Output:
	// instance is the emulator: true
	// daily API requests: 100000
}

// JWT bearer: the connected app holds the certificate, the client signs a
// short assertion with the private key.
func ExampleNew_jwt() {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	srv, err := sfsim.New(sfsim.Config{JWTCertPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx := context.Background()
	c, err := salesforce.New(ctx, salesforce.Config{
		LoginURL:   srv.URL(),
		Auth:       salesforce.AuthJWT,
		ClientID:   "contactsync",
		Username:   "integration@contactsync.test",
		PrivateKey: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	sr, err := c.Upsert(ctx, "Contact", "External_Contact_ID__c", "MC_1", salesforce.Record{"LastName": "Doe"}, salesforce.WriteOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", sr.Created)
	// Output:
	// created: true
}

func ExampleClient_UpsertCollection() {
	srv, err := sfsim.New(sfsim.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	c, err := salesforce.New(ctx, salesforce.Config{LoginURL: srv.URL(), ClientID: "contactsync", ClientSecret: "contactsync-secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// An existing contact, unlinked, holding jane@example.com.
	if _, err := srv.Insert("Contact", map[string]any{"LastName": "Doe", "Email": "jane@example.com"}); err != nil {
		log.Fatal(err)
	}
	recs := []salesforce.Record{
		{"External_Contact_ID__c": "MC_1", "LastName": "Roe", "Email": "roe@example.com"},
		{"External_Contact_ID__c": "MC_2", "LastName": "Poe", "Email": "not-an-email"},
		{"External_Contact_ID__c": "MC_3", "LastName": "Doe", "Email": "jane@example.com"}, // duplicate rule fires
	}
	res, err := c.UpsertCollection(ctx, "Contact", "External_Contact_ID__c", recs, salesforce.WriteOptions{})
	if err != nil {
		log.Fatal(err) // the whole request failed
	}
	for i, r := range res {
		if r.Success {
			fmt.Println(recs[i]["External_Contact_ID__c"], "created:", r.Created)
			continue
		}
		e := r.Errors[0]
		fmt.Println(recs[i]["External_Contact_ID__c"], e.StatusCode, e.Class())
	}
	// Output:
	// MC_1 created: true
	// MC_2 INVALID_EMAIL_ADDRESS permanent
	// MC_3 DUPLICATES_DETECTED duplicate
}

func ExampleInQueries() {
	emails := []string{"jane@example.com", "o'brien@example.com", "sam@example.com"}
	for _, q := range salesforce.InQueries("SELECT Id, Email FROM Contact WHERE", "Email", emails, "LIMIT 200", 140) {
		fmt.Println(q)
	}
	// Output:
	// SELECT Id, Email FROM Contact WHERE Email IN ('jane@example.com','o\'brien@example.com') LIMIT 200
	// SELECT Id, Email FROM Contact WHERE Email IN ('sam@example.com') LIMIT 200
}

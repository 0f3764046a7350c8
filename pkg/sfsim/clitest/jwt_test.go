package clitest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

// TestSalesforceCLIJWT logs sf in with the JWT bearer flow (sf org login
// jwt) as a named user: the emulator makes that user a User of its own, sf
// reports it, and the records sf creates carry its Id.
func TestSalesforceCLIJWT(t *testing.T) {
	tl := needTools(t, false)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	o := startOrgWith(t, tl, sfsim.Config{JWTCertPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})})
	keyFile := writeFile(t, t.TempDir(), "server.key",
		string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})))

	const user = "alice@example.com"
	r := o.sf("org", "login", "jwt", "--username", user, "--jwt-key-file", keyFile, "--client-id", sfsim.DefaultClientID,
		"--instance-url", o.srv.URL(), "--alias", "jwt")
	if !strings.Contains(r.stdout, "Successfully authorized "+user) {
		t.Fatalf("login jwt: %v", r)
	}
	alice := o.one("User", "Username", user)
	var d struct{ Username, ID string }
	o.sfJSON(&d, "org", "display", "user", "--target-org", "jwt")
	if d.Username != user || d.ID != alice["Id"] {
		t.Errorf("org display user: %+v, want %s %v", d, user, alice["Id"])
	}
	var created struct{ ID string }
	o.sfJSON(&created, "data", "create", "record", "--sobject", "Contact", "--values", "LastName=Byalice", "--target-org", "jwt")
	if rec := o.one("Contact", "Id", created.ID); rec["CreatedById"] != alice["Id"] {
		t.Errorf("CreatedById %v, want alice's %v", rec["CreatedById"], alice["Id"])
	}
}

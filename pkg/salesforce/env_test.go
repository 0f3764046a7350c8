package salesforce

import (
	"strings"
	"testing"
)

func TestEnvValidateNamesTheVariable(t *testing.T) {
	ok := Env{LoginURL: "https://acme.my.salesforce.com", ClientID: "id", ClientSecret: "s"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid env: %v", err)
	}
	for want, e := range map[string]Env{
		"SF_LOGIN_URL":        {ClientID: "id", ClientSecret: "s"},
		"SF_AUTH":             {LoginURL: "https://x", Auth: "password", ClientID: "id"},
		"SF_CLIENT_ID":        {LoginURL: "https://x", ClientSecret: "s"},
		"SF_CLIENT_SECRET":    {LoginURL: "https://x", ClientID: "id"},
		"SF_PRIVATE_KEY_FILE": {LoginURL: "https://x", Auth: AuthJWT, ClientID: "id", Username: "u"},
	} {
		err := e.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: err = %v, want one naming %s", e, err, want)
		}
	}
}

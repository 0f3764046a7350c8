package sfsim_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

// ExampleNew starts an emulator, seeds a contact, takes a token and
// queries it back over plain net/http.
func ExampleNew() {
	srv, err := sfsim.New(sfsim.Config{}) // 127.0.0.1, random port
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	if _, err := srv.Insert("Contact", map[string]any{"LastName": "Doe", "Email": "Jane@Example.com", "External_Contact_ID__c": "MC_1"}); err != nil {
		panic(err)
	}

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	res, err := hc.PostForm(srv.URL()+"/services/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"contactsync"}, "client_secret": {"contactsync-secret"}})
	if err != nil {
		panic(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		InstanceURL string `json:"instance_url"`
	}
	_ = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	fmt.Println("instance_url is the emulator:", tok.InstanceURL == srv.URL())

	q := url.QueryEscape("SELECT Email, External_Contact_ID__c FROM Contact WHERE LastName = 'Doe'")
	req, _ := http.NewRequest("GET", tok.InstanceURL+"/services/data/v60.0/query?q="+q, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, err = hc.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var page struct {
		TotalSize int              `json:"totalSize"`
		Done      bool             `json:"done"`
		Records   []map[string]any `json:"records"`
	}
	_ = json.Unmarshal(body, &page)
	fmt.Println(res.Status, res.Header.Get("Sforce-Limit-Info"))
	fmt.Println("totalSize:", page.TotalSize, "done:", page.Done)
	fmt.Println(page.Records[0]["Email"], page.Records[0]["External_Contact_ID__c"])
	fmt.Println("records stored:", srv.Stats().Records["Contact"], strings.HasPrefix(srv.Records("Contact")[0]["Id"].(string), "003"))
	// Output:
	// instance_url is the emulator: true
	// 200 OK api-usage=1/100000
	// totalSize: 1 done: true
	// jane@example.com MC_1
	// records stored: 1 true
}

// ExampleServer_SetFaults makes every request fail with 503, as a
// Salesforce outage would, then heals it.
func ExampleServer_SetFaults() {
	srv, err := sfsim.New(sfsim.Config{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.SetFaults(sfsim.Faults{ErrorRate: 1, Errors: []string{"SERVER_UNAVAILABLE"}})
	// … exercise a client's retries here …
	srv.SetFaults(sfsim.Faults{})
	fmt.Println(srv.Stats().APICalls)
	// Output: 0
}

package salesforce

import (
	"errors"
	"fmt"
)

// Env is the Salesforce part of every service's environment (DESIGN.md
// shared names), for envconfig. Embed it in a service's config struct.
type Env struct {
	LoginURL       string `envconfig:"SF_LOGIN_URL" desc:"My Domain URL of the org (https://acme.my.salesforce.com), or an sfsim URL"`
	Auth           string `envconfig:"SF_AUTH" default:"client_credentials" desc:"client_credentials or jwt"`
	ClientID       string `envconfig:"SF_CLIENT_ID" desc:"connected app consumer key"`
	ClientSecret   string `envconfig:"SF_CLIENT_SECRET" desc:"consumer secret (client_credentials)"`
	Username       string `envconfig:"SF_USERNAME" desc:"integration user (jwt)"`
	PrivateKeyFile string `envconfig:"SF_PRIVATE_KEY_FILE" desc:"PEM key that signs the JWT (jwt)"`
	Audience       string `envconfig:"SF_AUDIENCE" desc:"JWT audience; default https://login.salesforce.com"`
	APIVersion     string `envconfig:"SF_API_VERSION" default:"60.0" desc:"REST API version"`
	MaxConcurrency int    `envconfig:"SF_MAX_CONCURRENCY" default:"24" desc:"Salesforce requests in flight per process"`
}

// Config turns the environment into a client Config.
func (e Env) Config() Config {
	return Config{LoginURL: e.LoginURL, Auth: e.Auth, ClientID: e.ClientID, ClientSecret: e.ClientSecret,
		Username: e.Username, PrivateKeyFile: e.PrivateKeyFile, Audience: e.Audience, APIVersion: e.APIVersion,
		MaxConcurrency: e.MaxConcurrency}
}

// Validate names the first missing or bad variable, for services that need a
// real (or emulated) org.
func (e Env) Validate() error {
	switch {
	case e.LoginURL == "":
		return errors.New("SF_LOGIN_URL is required: the org's My Domain URL (https://acme.my.salesforce.com) or an sfsim URL")
	case e.Auth != "" && e.Auth != AuthClientCredentials && e.Auth != AuthJWT:
		return fmt.Errorf("SF_AUTH=%q: want %s or %s", e.Auth, AuthClientCredentials, AuthJWT)
	case e.ClientID == "":
		return errors.New("SF_CLIENT_ID is required (the connected app's consumer key)")
	case e.Auth == AuthJWT && (e.Username == "" || e.PrivateKeyFile == ""):
		return errors.New("SF_AUTH=jwt needs SF_USERNAME and SF_PRIVATE_KEY_FILE")
	case (e.Auth == "" || e.Auth == AuthClientCredentials) && e.ClientSecret == "":
		return errors.New("SF_CLIENT_SECRET is required for SF_AUTH=client_credentials")
	}
	return nil
}

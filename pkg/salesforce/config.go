package salesforce

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Auth flows accepted in Config.Auth.
const (
	AuthClientCredentials = "client_credentials"
	AuthJWT               = "jwt"
)

// Defaults applied to zero Config fields.
const (
	DefaultAPIVersion        = "60.0"
	DefaultAudience          = "https://login.salesforce.com"
	DefaultMaxConcurrency    = 24
	DefaultCallOptionsClient = "contactsync"
	DefaultMaxRetryElapsed   = 30 * time.Second
	DefaultRetryBackoff      = 200 * time.Millisecond
	// MaxCollectionSize is the sObject Collections limit per request; larger
	// inputs are split into several requests.
	MaxCollectionSize = 200
	// MaxCompositeSubrequests is the Composite resource's limit per request.
	MaxCompositeSubrequests = 25
)

// Config configures a Client. The zero value of every field but LoginURL and
// the credentials means its default.
type Config struct {
	// LoginURL is the token host: the org's My Domain URL
	// (https://acme.my.salesforce.com; client credentials only work there) or
	// an sfsim URL. The token URL is LoginURL + "/services/oauth2/token"; data
	// calls go to the instance_url of the token response.
	LoginURL string
	// Auth is "client_credentials" (default) or "jwt".
	Auth string
	// ClientID is the connected app's consumer key (the JWT "iss").
	ClientID string
	// ClientSecret is the consumer secret (client credentials only).
	ClientSecret string
	// Username is the JWT "sub" (JWT only).
	Username string
	// PrivateKey is the PEM RSA key (PKCS#1 or PKCS#8) signing the JWT;
	// PrivateKeyFile is read when PrivateKey is empty (JWT only).
	PrivateKey     []byte
	PrivateKeyFile string
	// Audience is the JWT "aud"; default https://login.salesforce.com (use
	// https://test.salesforce.com for sandboxes).
	Audience string
	// APIVersion is the REST version, default "60.0" (a leading "v" is fine).
	APIVersion string
	// MaxConcurrency bounds the requests in flight per Client; default 24,
	// below Salesforce's 25 concurrent long-running requests.
	MaxConcurrency int
	// CallOptionsClient is sent as "Sforce-Call-Options: client=<value>";
	// default "contactsync".
	CallOptionsClient string
	// MaxRetryElapsed bounds the transient retries of one call (the context
	// bounds it too); default 30s. Negative disables retries.
	MaxRetryElapsed time.Duration
	// RetryBackoff is the first backoff interval (doubling, with jitter, up to
	// 5s); default 200ms.
	RetryBackoff time.Duration
	// HTTPClient replaces the tuned default client (keep-alive, pooled
	// connections ≥ MaxConcurrency, dial/TLS/header timeouts).
	HTTPClient *http.Client
	// Logger receives debug lines for retries and info lines for new
	// sessions; nil means zap.NewNop(). Tokens and secrets are never logged.
	Logger *zap.Logger
}

func (c Config) withDefaults() Config {
	if c.Auth == "" {
		c.Auth = AuthClientCredentials
	}
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	c.APIVersion = strings.TrimPrefix(strings.TrimPrefix(c.APIVersion, "v"), "V")
	if c.APIVersion == "" {
		c.APIVersion = DefaultAPIVersion
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = DefaultMaxConcurrency
	}
	if c.CallOptionsClient == "" {
		c.CallOptionsClient = DefaultCallOptionsClient
	}
	if c.MaxRetryElapsed == 0 {
		c.MaxRetryElapsed = DefaultMaxRetryElapsed
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	c.LoginURL = strings.TrimRight(c.LoginURL, "/")
	return c
}

// validate checks a defaulted Config and names the first bad field. It reads
// PrivateKeyFile for the JWT flow.
func (c *Config) validate() error {
	u, err := url.Parse(c.LoginURL)
	if c.LoginURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("SF_LOGIN_URL (Config.LoginURL) must be an http(s) URL, got %q", c.LoginURL)
	}
	if c.ClientID == "" {
		return fmt.Errorf("SF_CLIENT_ID (Config.ClientID) is required")
	}
	switch c.Auth {
	case AuthClientCredentials:
		if c.ClientSecret == "" {
			return fmt.Errorf("SF_CLIENT_SECRET (Config.ClientSecret) is required for SF_AUTH=client_credentials")
		}
	case AuthJWT:
		if c.Username == "" {
			return fmt.Errorf("SF_USERNAME (Config.Username) is required for SF_AUTH=jwt")
		}
		if len(c.PrivateKey) == 0 {
			if c.PrivateKeyFile == "" {
				return fmt.Errorf("SF_PRIVATE_KEY_FILE (Config.PrivateKey or PrivateKeyFile) is required for SF_AUTH=jwt")
			}
			b, err := os.ReadFile(c.PrivateKeyFile)
			if err != nil {
				return fmt.Errorf("SF_PRIVATE_KEY_FILE (Config.PrivateKeyFile): %w", err)
			}
			c.PrivateKey = b
		}
		if _, err := parseRSAKey(c.PrivateKey); err != nil {
			return fmt.Errorf("salesforce: Config.PrivateKey: %w", err)
		}
	default:
		return fmt.Errorf("salesforce: Config.Auth must be %q or %q, got %q", AuthClientCredentials, AuthJWT, c.Auth)
	}
	if _, err := strconv.ParseFloat(c.APIVersion, 64); err != nil || !strings.Contains(c.APIVersion, ".") {
		return fmt.Errorf("salesforce: Config.APIVersion must look like \"60.0\", got %q", c.APIVersion)
	}
	if c.MaxConcurrency < 1 {
		return fmt.Errorf("salesforce: Config.MaxConcurrency must be >= 1, got %d", c.MaxConcurrency)
	}
	if c.RetryBackoff < 0 {
		return fmt.Errorf("salesforce: Config.RetryBackoff must be >= 0, got %s", c.RetryBackoff)
	}
	if strings.ContainsAny(c.CallOptionsClient, ";,\r\n") {
		return fmt.Errorf("salesforce: Config.CallOptionsClient must not contain ';', ',' or line breaks")
	}
	return nil
}

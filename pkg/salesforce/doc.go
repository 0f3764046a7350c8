// Package salesforce is the Salesforce REST client of contactsync: OAuth
// (client credentials or JWT bearer), upserts by external ID one at a time or
// through sObject Collections, creates/updates/reads/deletes, Composite,
// paged SOQL queries, /limits, and one classification of every failure.
//
// # Authentication
//
// Client credentials (the connected app's "Run As" user) must go to the org's
// My Domain host; the secret travels in the form body:
//
//	c, err := salesforce.New(ctx, salesforce.Config{
//		LoginURL:     "https://acme.my.salesforce.com",
//		ClientID:     os.Getenv("SF_CLIENT_ID"),
//		ClientSecret: os.Getenv("SF_CLIENT_SECRET"),
//	})
//
// JWT bearer signs a 3-minute assertion (iss = ClientID, sub = Username,
// aud = Audience) with the RSA key whose certificate the connected app holds:
//
//	c, err := salesforce.New(ctx, salesforce.Config{
//		LoginURL:       "https://login.salesforce.com",
//		Auth:           salesforce.AuthJWT,
//		ClientID:       os.Getenv("SF_CLIENT_ID"),
//		Username:       "integration@acme.com",
//		PrivateKeyFile: "/run/secrets/sf.key",
//		Audience:       "https://login.salesforce.com", // test.salesforce.com for sandboxes
//	})
//
// New fetches the first token, so bad credentials fail there as an
// *AuthError (OAuth error code and description only). Data calls go to the
// token's instance_url. Salesforce tokens carry no expiry: when a call comes
// back 401 INVALID_SESSION_ID the client fetches one new token (concurrent
// callers share that request) and sends the call once more. Tokens, secrets
// and assertions never appear in errors or logs.
//
// # Writing records
//
// UpsertCollection is the workhorse: records are sent 200 per request with
// attributes.type added and any Id removed, and results come back one per
// input record, in input order. Per-record failures are in
// SaveResult.Errors; the returned error is for whole-request failures only.
// WriteOptions.DuplicateRule sends Sforce-Duplicate-Rule-Header; every call
// sends Sforce-Call-Options: client=<CallOptionsClient>.
//
// # Errors
//
// Whole-request failures are *APIError (HTTP status, errorCode, message,
// fields, the duplicate result under either spelling, the record URLs of an
// HTTP 300). Per-record failures are RecordError. Classify / ClassOf map both
// to a Class, errorCode first and HTTP status second:
//
//	transient       UNABLE_TO_LOCK_ROW, SERVER_UNAVAILABLE, QUERY_TIMEOUT,
//	                500/502/503/504 (HTML gateway pages too), network errors,
//	                ALL_OR_NONE_OPERATION_ROLLED_BACK, PROCESSING_HALTED
//	session         INVALID_SESSION_ID (after the one automatic refresh)
//	limit           REQUEST_LIMIT_EXCEEDED (also errors.Is(err, ErrRequestLimit)), 429
//	duplicate       DUPLICATES_DETECTED, DUPLICATE_VALUE
//	multiple-match  DUPLICATE_EXTERNAL_ID, HTTP 300
//	permanent       everything else
//
// # Retries
//
// The client retries transient whole-request failures itself, with
// exponential backoff and jitter (Config.RetryBackoff doubling to 5s),
// bounded by the context and Config.MaxRetryElapsed. What may be replayed
// depends on the request:
//
//   - GET, DELETE, PATCH by Id and PATCH upserts by external ID (single or
//     collections) are idempotent and retried on any transient failure,
//     including a lost response (timeout, reset connection).
//   - POST creates (Create, CreateCollection, a Composite holding a POST) are
//     retried only when Salesforce demonstrably did not process them: 503
//     (SERVER_UNAVAILABLE or a bare 503), a 502 gateway page, 429,
//     UNABLE_TO_LOCK_ROW (the transaction rolled back), or a connection that
//     could not be opened. A lost response, 500 or 504 is returned to the
//     caller: the record may exist, and replaying would create it twice.
//   - REQUEST_LIMIT_EXCEEDED is returned at once; it is never retried.
//
// Per-record failures inside a collections result are not retried: the
// caller decides (usually by Class) what to send again.
//
// # Queries
//
// Query returns an iterator that fetches nextRecordsUrl pages lazily;
// QueryAll collects them all. Build literals with Quote / EscapeLiteral, and
// long IN lists with InQueries, which splits them so that no GET URI comes
// near the 16,384-byte limit.
//
// # Limits and concurrency
//
// At most Config.MaxConcurrency (default 24) requests are in flight per
// Client. Usage reports the latest Sforce-Limit-Info api-usage, Limits reads
// /limits, APICalls counts the data requests sent.
package salesforce

// Package sfsim is a Salesforce org emulator that speaks the REST API on the
// wire: OAuth 2.0 (client credentials and JWT bearer), sObject rows and
// upsert by external ID, sObject Collections, Composite, SOQL queries with
// paging, Bulk API 2.0 ingest and query jobs (bulk.go), /limits, duplicate
// rules, validation, API limits and injectable faults. It follows the wire behaviour recorded in the project's
// reference/salesforce-api.md (§11 lists what must be exact).
//
// It also serves what the Salesforce CLI (sf) and jsforce need beyond a
// sync client: OpenID /services/oauth2/userinfo and a User per identity
// that logs in, the Organization row, a Profile, query column metadata
// (GET /query?q=…&columns=true), the sObject Tree API
// (POST /composite/tree/{type}), /limits/recordCount, attributes.url on
// every queried record, and paths with doubled slashes. Package
// sfsim/clitest drives the real tools against it.
//
// Start one in-process from a test, the way httptest.NewServer works:
//
//	srv, err := sfsim.New(sfsim.Config{}) // client_credentials contactsync / contactsync-secret
//	if err != nil { … }
//	defer srv.Close()
//	// token: POST srv.URL()+"/services/oauth2/token"; data: srv.URL()+"/services/data/v60.0/…"
//
// or run it as a service with `go run ./workers/sfsim`.
//
// Admin endpoints (no token, not counted as API calls):
//
//	GET  /__sfsim/stats            api_calls, calls by route, records by object
//	POST /__sfsim/reset            drop records, sessions, counters
//	PUT  /__sfsim/faults           Faults JSON: latency_ms, latency_per_record_ms, jitter_ms, error_rate, errors, daily_limit,
//	                               bulk_batch_retries, bulk_fail_batch
//	GET  /__sfsim/faults           the faults in force
//	POST /__sfsim/expire-sessions  every token becomes INVALID_SESSION_ID
//
// The store is in memory, indexed by Id, by every unique or external ID
// field and by every duplicate rule's match key, so writes cost O(1) per
// record whatever the org size. One RWMutex guards it; a collections or
// composite request is one transaction (allOrNone rolls it back).
package sfsim

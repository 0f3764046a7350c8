// Package report builds the four daily reconciliation reports a data
// steward works from:
//
//  1. duplicate emails: contacts that share an email but carry different
//     external IDs;
//  2. failures: upserts that need a person — dead letters by error code,
//     and Contact_Sync_Exception__c records not applied yet (New, Resolved
//     and waiting, Apply_Failed);
//  3. source gaps: external IDs the source has and Salesforce does not, IDs
//     in Salesforce the source does not know, and drift — contacts whose
//     fields in Salesforce no longer match what the fleet last wrote
//     (edited by hand; see upsert.Fingerprint);
//  4. recent: contacts modified in the last 24 hours.
//
// One export of the org's contacts serves reports 1, 3 and 4: a Bulk API
// 2.0 query job when the org holds at least Config.BulkThreshold contacts
// (a few calls whatever the size), paged SOQL (2,000 a page) below it. The
// exception records and the daily API usage cost one query and one /limits
// call each; Result.Calls says what each read cost.
//
// External IDs are compared case-folded, as Salesforce matches
// External_Contact_ID__c (unique, case-insensitive in
// deployments/salesforce); Config.CaseSensitiveIDs is for an org whose
// field is marked case-sensitive.
//
// Write puts each report in a CSV file, a JSON summary and one
// self-contained HTML page in a directory per run; the page shows the trend
// over the summaries of earlier runs kept beside it.
package report

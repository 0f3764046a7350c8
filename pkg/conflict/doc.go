// Package conflict settles duplicate-rule conflicts by policy.
//
// A conflict is an upsert of (external ID X, email E) that Salesforce refused
// with DUPLICATES_DETECTED because a contact C already has email E, or with
// DUPLICATE_EXTERNAL_ID because X matches several contacts. The upserter hands
// a batch's refusals to a Resolver, which finds the contacts behind them with
// one SOQL query (Email IN (…), escaped), decides each one with Decide under
// the segment's Policy (strict, external-id or email; see DESIGN.md), writes
// what the decisions call for in at most one update-by-Id and one
// save-anyway upsert collections call, and returns one Outcome per refusal.
// Every exception becomes an Event that the upserter publishes on CONFLICTS
// and the reconciler (pkg/reconcile) writes as a Contact_Sync_Exception__c
// record keyed by Event.Key.
package conflict

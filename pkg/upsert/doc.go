// Package upsert is the upsert worker: it owns a share of the CONTACTS
// partitions, pulls deltas in batches, and writes them to Salesforce with one
// sObject Collections upsert per batch.
//
// Per batch (DESIGN.md "Upsert worker"):
//
//  1. Fetch up to BatchSize deltas from the partition's pinned consumer.
//  2. Decode and validate; a malformed delta goes to the DLQ with its reason.
//  3. Drop deltas whose version is not newer than the last one applied for
//     the external ID (contact_state KV), and fold the deltas of one contact
//     into a single write (fields merged in version order, newest wins).
//  4. Send one upsert by external ID (allOrNone=false) and act per record:
//     success → record state and ack; duplicate refusal → conflict policy
//     (pkg/conflict); transient → retry those records with backoff, keeping
//     the partition's order; permanent → DLQ with Salesforce's error.
//
// Only the runner (partition loop) acks, terms or naks messages; the batch
// processor returns decisions. A partition processes one batch at a time,
// so one contact's deltas are applied in order.
package upsert

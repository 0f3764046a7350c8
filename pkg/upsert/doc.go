// Package upsert is the upsert worker: it holds leases on a share of the
// CONTACTS partitions, pulls their deltas in batches, and writes them to
// Salesforce with shared sObject Collections upserts.
//
// One delta, top to bottom (DESIGN.md "Upsert worker"):
//
//  1. partition.go: a partition loop waits for the partition's lease
//     (pkg/fleet), then fetches up to five calls' worth of deltas
//     (5 × BatchSize) at a time; at most one batch per partition is in
//     flight.
//  2. process.go (process): decode and validate (a malformed delta is
//     decided dead-lettered); renew the lease and read contact state from a
//     replica proven current (state.go); drop deltas not newer than the
//     last applied version and fold the rest per contact (batch.go).
//  3. process.go (write, attempt): send the writes, each carrying
//     Sync_Version__c, through the combiner (combine.go), which puts the
//     batches of all held partitions into one call, sent when full or when
//     its oldest delta has waited MaxDelay. Per record: success → applied;
//     Salesforce's version rule refusing an older version → stale;
//     duplicate refusal → conflict policy (pkg/conflict); transient →
//     retried with backoff, keeping the partition's order; permanent → dead
//     letter with Salesforce's error.
//  4. process.go (settle), the only place with side effects: publish
//     conflict events, store dead letters (worker.Settler, shared with the
//     reconciler), save state (compare-and-set) only for writes that fully
//     settled, then ack, term or nak (worker.Settler again). Every delta
//     ends in one worker.Outcome, the vocabulary the conflict resolver's
//     verdicts, the reconciler and the metrics use too.
//
// Everything a batch does runs under its partition's lease: when the lease
// ends (lost, expired, shutdown) the batch stops and its undecided deltas
// are nak'ed for whoever holds the partition next.
package upsert

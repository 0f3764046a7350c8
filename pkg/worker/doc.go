// Package worker is the runtime the fleet's two JetStream consumers share —
// the upserter (CONTACTS → Salesforce Contacts) and the reconciler
// (CONFLICTS → Contact_Sync_Exception__c records):
//
//   - one vocabulary for where a message ended (Outcome), used by the
//     upserter, the conflict resolver's verdicts and the reconciler alike,
//     and a per-batch count of it (Tally);
//   - one settle step for a batch's messages (Settle): dead letters stored
//     first, each naming the stream it came from, then every message acked,
//     terminated or handed back, in that order, so a terminated message
//     always has its dead letter;
//   - in-progress heartbeats while a batch's calls run (InProgress);
//   - a two-phase stop (Stop): finish in-flight work until a deadline, then
//     cancel it; what was cut short is redelivered.
//
// What a batch does between fetch and settle is each worker's own: the
// upserter folds deltas, writes contacts and resolves conflicts, the
// reconciler writes exception records. A reader follows one message from
// fetch to ack in the worker's package, and the ack itself here.
package worker

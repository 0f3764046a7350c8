// Package ops is the library behind syncctl, the operator's tool: pipeline
// status (streams, consumer lag, DLQ, fleet members), dead-letter listing,
// inspection, replay and purge, segment backfills from CONTACTS history or
// from a file, and summary reports that add Salesforce's view (exception
// records, API usage).
//
// Reading never consumes: streams are scanned with short-lived ephemeral
// AckNone consumers (what an ordered consumer is underneath, but with the
// pending count known up front) or read by sequence with direct get. Writes
// are idempotent per ticket: a replay publishes with Nats-Msg-Id
// replay:<ticket>:<dlq seq> and a backfill with backfill:<ticket>:<stream
// seq>, so running the same command twice within the CONTACTS duplicate
// window stores nothing new, and the upserter's stale-version check makes
// anything that is stored again harmless.
package ops

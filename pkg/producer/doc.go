// Package producer publishes contact deltas to JetStream: a Publisher with
// bounded in-flight async acks and dedup IDs, sources that read NDJSON deltas
// and CSV files (with a column mapping), an HTTP ingest handler, and Import,
// which pumps a source into a publisher and accounts for every record.
//
// Every record read ends as exactly one of: rejected (with its line or record
// number and the reason), published (stored in CONTACTS), duplicate (the
// same external ID and version was already stored within the duplicate
// window) or failed (JetStream did not confirm it; re-running is safe).
package producer

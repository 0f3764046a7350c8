// Package pgsource reads contact changes from a PostgreSQL table or query by
// a watermark and turns them into deltas (the source behind `producer poll`).
//
// Rows are read in keyset order on (updated_at, key) — or (sequence, key) —
// in pages, so rows sharing one updated_at are never split or skipped at a
// page boundary. Every poll starts again an overlap window before the
// saved position, so a transaction that commits after a later row was
// already read (its updated_at is its start time, now() in the
// transaction) is still caught; re-reading costs nothing downstream
// because the Nats-Msg-Id of a delta is external ID + version, and the
// poller does not even resend what it confirmed itself in this process.
// The position is saved in the watermarks KV bucket only after JetStream
// confirmed every delta up to it, so a crash at any point loses nothing and
// republishes at most the overlap.
//
// Bad input never passes silently: a wrong DSN, a missing table or column
// or a mapping naming an unknown column stop the poller at start-up with
// the setting named; a row that cannot be a delta (NULL key, bad segment,
// an over-long external ID, an unsupported value type) is rejected with its
// key and the reason, counted and logged, and passed; rows with a NULL
// key, a NULL updated_at or an updated_at in the future are counted and
// reported by a periodic check, since keyset paging cannot reach them.
package pgsource

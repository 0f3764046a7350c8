// Command producer publishes contact deltas to NATS JetStream: `publish
// FILE…` (NDJSON or CSV), `validate FILE…` (no NATS), `serve` (HTTP ingest)
// and `poll`. Run `producer --help` for usage and configuration.
package main

import "github.com/contactsync/contactsync/pkg/producer"

func main() { producer.Program().Main() }

// Package bus owns contactsync's JetStream topology: the streams CONTACTS,
// CONFLICTS and DLQ and the KV buckets contact_state, watermarks and
// upserter_members (Ensure), the partition function that agrees with the
// server's subject transform (Partition), the subject helpers, dead-letter
// publishing (PublishDeadLetter), and an embedded nats-server for tests and
// the standalone binary (StartEmbedded).
//
// It also holds what every process needs to ride out a node loss: the
// JetStream handle with a publish-async timeout (NewJetStream), and Retry,
// which bounds each JetStream call and repeats it while the failure is one
// that passes (Retryable: no leader yet, no responders, a node away);
// Ensure uses it.
//
// Subjects:
//
//	contacts.delta.<segment>.<key>              published by producers
//	contacts.delta.<segment>.<partition>.<key>  stored in CONTACTS (subject transform)
//	contacts.conflict.<segment>                 CONFLICTS, duplicate-rule conflict events
//	contacts.dlq.<segment>                      DLQ, deltas Salesforce refused for good
package bus

// Package reconcile writes conflict events as Contact_Sync_Exception__c
// records for data stewards.
//
// A Reconciler is the one durable pull consumer ("reconciler") of the
// CONFLICTS stream. It takes events in batches (up to 200, or whatever
// arrived within a short linger), collapses events with the same key, and
// upserts them by Exception_Key__c in one sObject Collections call, so a
// redelivery, a replay or a second run of the same data refreshes the
// existing record (Last_Seen__c) instead of creating another. A steward's
// Status__c (Resolved, Ignored) is never overwritten: the upsert leaves the
// field out and a new record takes the field's default, New.
//
// Per record: written → ack; permanent failure (a value Salesforce refuses)
// → dead letter on DLQ with Salesforce's reason, then term; transient
// failure → redelivery with backoff. Whole-call transient failures retry the
// batch in place with exponential backoff, holding the messages in progress.
//
// A node loss does not stop it: Start retries its JetStream calls while the
// cluster has no leader or a node is away, and when the consumer stops
// delivering for good (deleted, or its pulls refused), the Reconciler
// creates it again and carries on; redelivered events refresh their records.
package reconcile

// Package delta defines the contact delta (schema contact.delta/v1): the JSON
// message a producer publishes for one change of one contact, its strict
// decoder and validation, and the subject-safe encoding of external IDs that
// puts each contact on its own subject contacts.delta.<segment>.<key>.
//
// Validation checks shape only (schema, external ID, segment token, version,
// Salesforce API names and scalar values). Salesforce semantics (email
// format, field lengths, required fields) are left to Salesforce: its errors
// come back per record and the delta goes to the DLQ with Salesforce's reason.
package delta

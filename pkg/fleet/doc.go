// Package fleet decides which upserter writes which partition: membership
// (who is alive) and leases (who may write a partition now).
//
// # Membership: timing decides when
//
// Each member heartbeats its own key in a JetStream KV bucket whose entries
// expire (bus.BucketMembers, TTL a few seconds). Every member watches the
// bucket, sorts the live members and wants partition p when it is the
// (p mod n)-th member (Assign), so ownership is balanced and every member
// computes the same answer without a coordinator. Views may disagree for a
// moment (a join seen by one member before another); that only decides
// *when* a partition changes hands.
//
// # Leases: fencing decides whether
//
// A member writes partition p only while it holds p's lease: the key
// "lease.pNN" in the contact_state bucket, taken and renewed by
// compare-and-set on its revision (Acquire, Lease.Renew). The rules:
//
//  1. A free lease (absent, or deleted by a clean Release) is taken by
//     compare-and-set; of two contenders one wins.
//  2. A lease held by someone else is taken only after its revision stood
//     unchanged for a full TTL by the contender's clock, counted from when
//     the contender first saw it. The holder counts its lease valid only
//     until its last successful renewal was sent plus 3/4 TTL, and renews
//     every TTL/4, also while a long batch runs. Since the contender saw the
//     revision after it was committed, which was after the holder sent it,
//     the holder's validity ends a quarter TTL before any takeover.
//  3. Each acquisition has its own nonce, so a restarted process, a second
//     deployment with the same member name, or a new loop for a partition
//     whose old loop is still finishing is a different holder and waits by
//     rule 2 or for the old loop's Release.
//  4. Release runs only after the batch in flight is settled, and deletes
//     the key only at its own revision, so a deposed loop cannot free the
//     new owner's lease.
//
// # Why no older version is applied
//
// The upserter (pkg/upsert) adds three rules on top: it renews the lease
// right before reading contact state and accepts the read only if it
// includes that renewal (the lease key lives in the same stream as the
// state, and a replica that has applied an entry has applied every earlier
// one), so the state it reads includes every save of every earlier owner;
// it saves state with a compare-and-set per key on the revision it read;
// and every write carries the delta's version in Sync_Version__c, which a
// validation rule in Salesforce refuses to lower. The events that can
// interleave, and why none applies an older version over a newer one:
//
//   - Hand-over while a batch is in flight (a join, a leave, a flap): the
//     new owner waits for the old owner's Release, which follows its
//     settle, or for its lease to lapse; a batch renews its lease while it
//     runs, and one that cannot renew stops (its context ends) before the
//     lapse. Two owners never write at once through NATS.
//   - A member paused or cut off from NATS (GC, partition, a stuck retry):
//     its lease lapses, its context ends, it stops writing at 3/4 TTL; a
//     save it still manages fails its compare-and-set if the new owner wrote
//     the key, and one that succeeds records what it really wrote, which the
//     new owner's own compare-and-set then sees. Its acks after that are of
//     deltas whose state was saved, which the new owner skips anyway.
//   - A member killed between its Salesforce write and its ack: its deltas
//     come back only after AckWait, behind later ones, and its state was not
//     saved, so the new owner may send an older version. This is the one
//     case fencing in NATS cannot close (Salesforce takes no fencing token);
//     the Sync_Version__c rule refuses that write (counted stale_skipped),
//     and the redelivered newer delta is applied again.
//   - A Salesforce request sent just before a lease lapses and applied after
//     the takeover (a slow network): the same rule refuses whichever of the
//     two writes carries the older version.
//   - A stale read (a follower behind after a leader change): refused by the
//     freshness check and read again.
//   - Replays, redeliveries, a second deployment, a restore of an old state
//     bucket: the version check against state, and the Sync_Version__c rule
//     in Salesforce whatever the state says.
//
// With the rule turned off (SYNC_VERSION_FIELD=none) the third and fourth
// cases can briefly apply an older version, until the redelivered newer
// delta restores it.
//
// Why not synadia-io/orbit.go/pcgroups or pinned consumers: static groups
// need a fixed member list, elastic groups change membership only by an
// admin call, and a pinned consumer's pin moves on timing alone (a pin TTL,
// an unpin by anyone), which does not stop a deposed pinned client that is
// still running from writing.
package fleet

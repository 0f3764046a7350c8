package upsert

import (
	"context"
	"strings"

	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/worker"
)

// deleter is what deletes need from the Salesforce client, beyond the
// Salesforce interface (*salesforce.Client has it).
type deleter interface {
	DeleteCollection(ctx context.Context, ids []string, allOrNone bool) ([]salesforce.SaveResult, error)
}

// deletes reports whether this upserter can apply delete deltas; without
// it they are dead-lettered (DELETE_UNSUPPORTED), never upserted.
func (u *Upserter) deletes() bool {
	_, ok := u.d.Salesforce.(deleter)
	return ok
}

// splitDeletes takes the deletes out of a batch's items. Per contact the
// newest delete wins over everything older: those items are stale. An
// upsert newer than the delete in the same batch is written instead (the
// contact is kept, not deleted and re-created; the delete counts as
// superseded). A delete not newer than the contact's state is stale like
// any delta. It returns the items left for fold and one write per delete.
func (b *batchRun) splitDeletes(items []item, state map[string]stored) ([]item, []*write) {
	newestDel := map[string]item{}
	for _, it := range items {
		if !it.delta.IsDelete() || it.delta.Version <= state[it.key].Version {
			continue
		}
		if d, ok := newestDel[it.key]; !ok || it.delta.Version > d.delta.Version {
			newestDel[it.key] = it
		}
	}
	newestUp := map[string]int64{}
	for _, it := range items {
		if !it.delta.IsDelete() && it.delta.Version > newestUp[it.key] {
			newestUp[it.key] = it.delta.Version
		}
	}
	var rest []item
	var dels []*write
	for _, it := range items {
		d, hasDel := newestDel[it.key]
		switch {
		case it.delta.IsDelete() && hasDel && it.idx == d.idx && newestUp[it.key] < d.delta.Version:
			st := state[it.key]
			dels = append(dels, &write{key: it.key, items: []item{it}, newest: it, version: it.delta.Version, rev: st.rev, del: true, id: st.ID})
		case it.delta.IsDelete():
			b.set(it.idx, worker.StaleSkipped, it.delta.Segment)
		case hasDel && it.delta.Version <= d.delta.Version:
			b.set(it.idx, worker.StaleSkipped, it.delta.Segment)
		default:
			rest = append(rest, it)
		}
	}
	return rest, dels
}

// delete applies the deletes: Ids from the contact state, the rest found
// with one batched query by external ID; a contact not found, or already
// deleted, counts as deleted. Transient failures are retried with backoff
// for RecordRetryMaxElapsed, then dead-lettered; permanent ones are
// dead-lettered at once (untilSettled, the same loop as writes). Each
// applied delete leaves a tombstone in state.
func (b *batchRun) delete(ctx context.Context, ws []*write) {
	if len(ws) == 0 {
		return
	}
	sf := b.u.d.Salesforce.(deleter)
	b.untilSettled(ctx, "Salesforce delete failed; retrying", ws, func(ctx context.Context, pending []*write) ([]*write, error) {
		return b.deleteOnce(ctx, sf, pending)
	})
}

// deleteOnce looks up missing Ids and sends one delete round; it returns
// the writes to try again.
func (b *batchRun) deleteOnce(ctx context.Context, sf deleter, ws []*write) ([]*write, error) {
	u := b.u
	var lookup []string
	for _, w := range ws {
		if w.id == "" {
			lookup = append(lookup, w.newest.delta.ExternalID)
		}
	}
	if len(lookup) > 0 {
		found := map[string]string{} // folded external ID → Id
		for _, q := range salesforce.InQueries("SELECT Id, "+u.cfg.ExternalIDField+" FROM "+u.cfg.Object+" WHERE", u.cfg.ExternalIDField, lookup, "", 0) {
			recs, err := u.d.Salesforce.QueryAll(ctx, q)
			if err != nil {
				if salesforce.ClassOf(err) == salesforce.ClassPermanent {
					for _, w := range ws {
						b.fail(w, errorCode(err), errorMessage(err))
					}
					return nil, nil
				}
				for _, w := range ws {
					w.lastErr = "lookup by external ID: " + err.Error()
				}
				return ws, err
			}
			for _, r := range recs {
				id, _ := r["Id"].(string)
				ext, _ := r[u.cfg.ExternalIDField].(string)
				found[strings.ToLower(ext)] = id
			}
		}
		for _, w := range ws {
			if w.id == "" {
				w.id = found[strings.ToLower(w.newest.delta.ExternalID)]
			}
		}
	}
	var send []*write
	var ids []string
	for _, w := range ws {
		if w.id == "" { // not in Salesforce: already gone
			b.deleted(w)
			continue
		}
		send = append(send, w)
		ids = append(ids, w.id)
	}
	if len(send) == 0 {
		return nil, nil
	}
	res, err := sf.DeleteCollection(ctx, ids, false)
	var retry []*write
	for i, w := range send {
		if i >= len(res) {
			if err != nil && salesforce.ClassOf(err) == salesforce.ClassPermanent {
				b.fail(w, errorCode(err), errorMessage(err))
				continue
			}
			if err != nil {
				w.lastErr = err.Error()
			}
			retry = append(retry, w)
			continue
		}
		r := res[i]
		if r.Success {
			b.deleted(w)
			continue
		}
		e := salesforce.RecordError{StatusCode: salesforce.CodeUnknownError, Message: "record failed without an error"}
		if len(r.Errors) > 0 {
			e = r.Errors[0]
		}
		switch {
		case e.StatusCode == salesforce.CodeEntityIsDeleted || e.StatusCode == salesforce.CodeInvalidCrossReferenceKey:
			b.deleted(w) // gone already (deleted in Salesforce, or merged away)
		case isTransient(salesforce.Classify(e.StatusCode, 0)):
			w.lastErr = e.StatusCode + ": " + e.Message
			retry = append(retry, w)
		default:
			b.fail(w, e.StatusCode, e.Message)
		}
	}
	return retry, err
}

// deleted records an applied delete: the outcome, and a tombstone for
// settle to save.
func (b *batchRun) deleted(w *write) {
	for _, it := range w.items {
		b.set(it.idx, worker.Deleted, it.delta.Segment)
	}
	w.applied = &stored{contactState: contactState{Version: w.version, Deleted: true}, rev: w.rev}
}

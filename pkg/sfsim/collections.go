package sfsim

import (
	"fmt"
	"net/http"
	"strings"
)

// maxCollection is the record cap of one sObject Collections request.
const maxCollection = 200

type collectionBody struct {
	AllOrNone bool             `json:"allOrNone"`
	Records   []map[string]any `json:"records"`
}

// saveResult is one record's outcome in a collections response.
type saveResult struct {
	ID      *string       `json:"id"`
	Success bool          `json:"success"`
	Errors  []recordError `json:"errors"`
	Created *bool         `json:"created,omitempty"`
}

// okResult is a success naming id (a record's own Id: records' Ids never
// change, so the result points at it instead of a copy).
func okResult(id *string) saveResult {
	return saveResult{ID: id, Success: true, Errors: []recordError{}}
}

// created and updated are the values of saveResult.Created, never
// written through.
var created, updated = true, false

func errResult(e *apiError) saveResult {
	return saveResult{Success: false, Errors: []recordError{e.record()}}
}

func errTooMany() *apiError {
	return newErr(http.StatusBadRequest, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
}

func errConcreteType() *apiError {
	return newErr(http.StatusBadRequest, "INVALID_TYPE", "Must send a concrete entity type.")
}

// decodeCollection decodes and checks the envelope of a collections write.
func (c *call) decodeCollection() (*collectionBody, *apiError) {
	b, ok := fastCollection(c.body)
	if !ok {
		// Anything the fast path does not take, errors included:
		// encoding/json, for its results and messages.
		b = collectionBody{}
		if err := decodeBody(c.body, &b); err != nil {
			return nil, err
		}
	}
	if len(b.Records) > maxCollection {
		return nil, errTooMany()
	}
	if c.forceAllOrNone {
		b.AllOrNone = true
	}
	return &b, nil
}

// recordType returns the object named by a record's attributes.type.
func (c *call) recordType(rec map[string]any) (*objectInfo, *apiError) {
	attrs, _ := rec["attributes"].(map[string]any)
	t, _ := attrs["type"].(string)
	if t == "" {
		return nil, errConcreteType()
	}
	o := c.s.model.object(t)
	if o == nil {
		return nil, newErr(http.StatusBadRequest, "INVALID_TYPE", fmt.Sprintf("sObject type '%s' is not supported.", t))
	}
	return o, nil
}

// pending is one record of a collections write, converted before any write.
type pending struct {
	o    *objectInfo
	vals map[string]any
	err  *apiError // fails only this record
	id   string    // update: target Id
}

// finish applies allOrNone and renders the results.
func (c *call) finish(b *collectionBody, res []saveResult, tx *txn, mark int) *response {
	failed := false
	for _, r := range res {
		if !r.Success {
			failed = true
			break
		}
	}
	if failed && b.AllOrNone {
		tx.rollbackTo(mark)
		rb := &apiError{code: "ALL_OR_NONE_OPERATION_ROLLED_BACK", msg: msgRolledBack}
		for i := range res {
			res[i].ID = nil
			res[i].Created = nil
			if res[i].Success {
				res[i] = errResult(rb)
			}
		}
	}
	if res == nil {
		res = []saveResult{}
	}
	return &response{status: http.StatusOK, body: res, failed: failed}
}

// hCollCreate is POST /composite/sobjects.
func (s *Server) hCollCreate(c *call) *response {
	b, err := c.decodeCollection()
	if err != nil {
		return s.fail(err)
	}
	ps := make([]pending, len(b.Records))
	for i, rec := range b.Records {
		o, err := c.recordType(rec)
		if err != nil {
			return s.fail(err)
		}
		ps[i].o = o
		if _, ok := rec["Id"]; ok {
			ps[i].err = newErr(http.StatusBadRequest, "INVALID_FIELD_FOR_INSERT_UPDATE", "Record ID: cannot specify Id in an insert call", "Id")
			continue
		}
		if _, ok := rec["id"]; ok {
			ps[i].err = newErr(http.StatusBadRequest, "INVALID_FIELD_FOR_INSERT_UPDATE", "Record ID: cannot specify Id in an insert call", "Id")
			continue
		}
		ps[i].vals, ps[i].err = o.convertOwned(rec)
		if ps[i].err != nil && ps[i].err.request {
			return s.fail(ps[i].err)
		}
	}
	c.recordLatency(len(b.Records))
	w := c.writeOpts()
	defer c.lock()()
	tx := c.txn()
	mark := len(tx.undo)
	res := make([]saveResult, len(ps))
	for i, p := range ps {
		switch {
		case p.err != nil:
			res[i] = errResult(p.err)
		case s.rollLock(c.lockRate):
			res[i] = errResult(s.lockError())
		default:
			r, err := s.create(s.objs[p.o], p.vals, w, tx)
			if err != nil {
				res[i] = errResult(err)
			} else {
				res[i] = okResult(&r.id)
			}
		}
	}
	return c.finish(b, res, tx, mark)
}

// hCollUpdate is PATCH /composite/sobjects: update by Id.
func (s *Server) hCollUpdate(c *call) *response {
	b, err := c.decodeCollection()
	if err != nil {
		return s.fail(err)
	}
	ps := make([]pending, len(b.Records))
	for i, rec := range b.Records {
		o, err := c.recordType(rec)
		if err != nil {
			return s.fail(err)
		}
		ps[i].o = o
		idv, ok := rec["Id"]
		if !ok {
			idv, ok = rec["id"]
		}
		delete(rec, "Id")
		delete(rec, "id")
		id, _ := idv.(string)
		switch {
		case !ok || id == "":
			ps[i].err = newErr(http.StatusBadRequest, "MISSING_ARGUMENT", "Id not specified in an update call")
			continue
		case idKey(id) == "":
			ps[i].err = errMalformedID("", id, "")
			continue
		}
		ps[i].id = id
		ps[i].vals, ps[i].err = o.convertOwned(rec)
		if ps[i].err != nil && ps[i].err.request {
			return s.fail(ps[i].err)
		}
	}
	c.recordLatency(len(b.Records))
	w := c.writeOpts()
	w.editByID = true
	defer c.lock()()
	tx := c.txn()
	mark := len(tx.undo)
	res := make([]saveResult, len(ps))
	for i, p := range ps {
		if p.err != nil {
			res[i] = errResult(p.err)
			continue
		}
		os := s.objs[p.o]
		k := idKey(p.id)
		r := os.byKey[k]
		switch {
		case r == nil && s.deleted[k] != nil:
			res[i] = errResult(&apiError{code: "ENTITY_IS_DELETED", msg: "entity is deleted"})
		case r == nil:
			res[i] = errResult(&apiError{code: "INVALID_CROSS_REFERENCE_KEY", msg: "invalid cross reference id"})
		case os.info.system:
			res[i] = errResult(errSystemObject(os.info, "deleted"))
		case s.rollLock(c.lockRate):
			res[i] = errResult(s.lockError())
		default:
			if err := s.update(os, r, p.vals, w, tx); err != nil {
				res[i] = errResult(err)
			} else {
				res[i] = okResult(&r.id)
			}
		}
	}
	return c.finish(b, res, tx, mark)
}

// hCollUpsert is PATCH /composite/sobjects/{type}/{field} (v46.0+).
func (s *Server) hCollUpsert(c *call) *response {
	if c.version < 46 {
		return s.fail(errNotFound())
	}
	o := s.model.object(c.segs[2])
	if o == nil {
		return s.fail(errNotFound())
	}
	fi := o.field(c.segs[3])
	if fi == nil || !(fi.ExternalID || fi.unique || fi.Name == "Id") {
		return s.fail(newErr(http.StatusBadRequest, "INVALID_FIELD",
			fmt.Sprintf("Field name provided, %s is not an External ID or indexed field for %s", c.segs[3], o.name)))
	}
	b, err := c.decodeCollection()
	if err != nil {
		return s.fail(err)
	}
	ps := make([]pending, len(b.Records))
	counts := make(map[string]int, len(b.Records))
	keys := make([]string, len(b.Records))
	for i, rec := range b.Records {
		ro, err := c.recordType(rec)
		if err != nil {
			return s.fail(err)
		}
		if ro != o {
			return s.fail(newErr(http.StatusBadRequest, "INVALID_TYPE",
				fmt.Sprintf("The sObject type %s of the record does not match the URI type %s", ro.name, o.name)))
		}
		if _, ok := rec["Id"]; ok && fi.Name != "Id" {
			ps[i].err = newErr(http.StatusBadRequest, "INVALID_FIELD_FOR_INSERT_UPDATE", "Record ID: cannot specify Id in an upsert call", "Id")
			continue
		}
		if fi.Name == "Id" {
			idv, _ := rec["Id"].(string)
			delete(rec, "Id")
			ps[i].id = idv
		}
		ps[i].vals, ps[i].err = o.convertOwned(rec)
		if ps[i].err != nil {
			if ps[i].err.request {
				return s.fail(ps[i].err)
			}
			continue
		}
		if fi.Name != "Id" {
			if k := indexKey(fi, ps[i].vals[fi.Name]); k != "" {
				keys[i] = k
				counts[k]++
			}
		}
	}
	c.recordLatency(len(b.Records))
	w := c.writeOpts()
	defer c.lock()()
	tx := c.txn()
	mark := len(tx.undo)
	os := s.objs[o]
	res := make([]saveResult, len(ps))
	for i, p := range ps {
		switch {
		case p.err != nil:
			res[i] = errResult(p.err)
			continue
		case keys[i] != "" && counts[keys[i]] > 1:
			res[i] = errResult(newErr(http.StatusBadRequest, "DUPLICATE_VALUE",
				"Duplicate external id specified: "+valueString(p.vals[fi.Name]), fi.Name))
			continue
		case s.rollLock(c.lockRate):
			res[i] = errResult(s.lockError())
			continue
		}
		var ext any
		if fi.Name == "Id" {
			if idKey(p.id) == "" {
				res[i] = errResult(errMalformedID("", p.id, ""))
				continue
			}
			ext = p.id
		} else {
			ext = p.vals[fi.Name]
		}
		u := s.upsert(os, fi, ext, p.vals, w, tx)
		switch {
		case len(u.matches) > 1:
			res[i] = errResult(multipleMatchError(fi, u.matches))
		case u.err != nil:
			res[i] = errResult(u.err)
		default:
			res[i] = okResult(&u.rec.id)
			res[i].Created = &updated
			if u.created {
				res[i].Created = &created
			}
		}
	}
	return c.finish(b, res, tx, mark)
}

// hCollDelete is DELETE /composite/sobjects?ids=…&allOrNone=….
func (s *Server) hCollDelete(c *call) *response {
	var ids []string
	for _, v := range strings.Split(c.query.Get("ids"), ",") {
		if v = strings.TrimSpace(v); v != "" {
			ids = append(ids, v)
		}
	}
	if len(ids) == 0 {
		return s.fail(newErr(http.StatusBadRequest, "MISSING_ARGUMENT", "ids parameter is required"))
	}
	if len(ids) > maxCollection {
		return s.fail(errTooMany())
	}
	b := &collectionBody{AllOrNone: c.forceAllOrNone || strings.EqualFold(c.query.Get("allOrNone"), "true")}
	c.recordLatency(len(ids))
	defer c.lock()()
	tx := c.txn()
	mark := len(tx.undo)
	res := make([]saveResult, len(ids))
	for i, id := range ids {
		k := idKey(id)
		var os *objectStore
		if k != "" {
			if o := s.model.byPfx[k[:3]]; o != nil {
				os = s.objs[o]
			}
		}
		var r *record
		if os != nil {
			r = os.byKey[k]
		}
		switch {
		case k == "":
			res[i] = errResult(errMalformedID("", id, ""))
		case r == nil && s.deleted[k] != nil:
			res[i] = errResult(&apiError{code: "ENTITY_IS_DELETED", msg: "entity is deleted"})
		case r == nil:
			res[i] = errResult(&apiError{code: "INVALID_CROSS_REFERENCE_KEY", msg: "invalid cross reference id"})
		case s.rollLock(c.lockRate):
			res[i] = errResult(s.lockError())
		default:
			s.deleteRecord(os, r, tx)
			res[i] = okResult(&r.id)
		}
		if !res[i].Success {
			given := id
			res[i].ID = &given
		}
	}
	return c.finish(b, res, tx, mark)
}

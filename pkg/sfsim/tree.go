package sfsim

import (
	"fmt"
	"net/http"
	"strings"
)

// maxTreeRecords is the most records one sObject Tree request may create.
const maxTreeRecords = 200

// treeResult is one entry of an sObject Tree answer: the record's
// referenceId with its new Id, or with its errors.
type treeResult struct {
	ReferenceID string        `json:"referenceId"`
	ID          string        `json:"id,omitempty"`
	Errors      []recordError `json:"errors,omitempty"`
}

// hTree is POST /composite/tree/{type} (sObject Tree): creates up to 200
// records of {type}, each tagged with attributes.referenceId, in one
// transaction. Success is 201 {"hasErrors":false,"results":[{referenceId,
// id}…]}; any failure rolls every record back and answers 400
// {"hasErrors":true,"results":[{referenceId, errors}…]} listing the
// records that failed. `sf data import tree` sends its files here (it
// resolves @references between files itself).
//
// Nested child records (a child relationship name holding {"records":[…]})
// are not supported: the emulator's schema has no child relationship
// names, so such a key is refused as an unknown field.
func (s *Server) hTree(c *call) *response {
	o := c.s.model.object(c.segs[2])
	if o == nil {
		return s.fail(newErr(http.StatusBadRequest, "INVALID_TYPE", fmt.Sprintf("sObject type '%s' is not supported.", c.segs[2])))
	}
	var b struct {
		Records []map[string]any `json:"records"`
	}
	if err := decodeBody(c.body, &b); err != nil {
		return s.fail(err)
	}
	switch n := len(b.Records); {
	case n == 0:
		return s.fail(errInput("records: the request must contain at least one record"))
	case n > maxTreeRecords:
		return s.fail(newErr(http.StatusBadRequest, "LIMIT_EXCEEDED",
			fmt.Sprintf("Limit Exceeded: an sObject tree request can contain at most %d records, got %d", maxTreeRecords, n)))
	}
	type item struct {
		ref  string
		vals map[string]any
		err  *apiError
	}
	items := make([]item, len(b.Records))
	seen := map[string]bool{}
	for i, rec := range b.Records {
		attrs, _ := rec["attributes"].(map[string]any)
		typ, _ := attrs["type"].(string)
		ref, _ := attrs["referenceId"].(string)
		switch {
		case attrs == nil || typ == "":
			return s.fail(errInput(fmt.Sprintf("records[%d]: attributes.type is required", i)))
		case !strings.EqualFold(typ, o.name):
			return s.fail(errInput(fmt.Sprintf("records[%d]: attributes.type %s does not match the object in the URL, %s", i, typ, o.name)))
		case !refIDRE.MatchString(ref):
			return s.fail(errInput(fmt.Sprintf("records[%d]: attributes.referenceId %q: use letters, digits and underscores, starting with a letter or digit", i, ref)))
		case seen[strings.ToLower(ref)]:
			return s.fail(errInput("Duplicate ReferenceId provided in the request: " + ref))
		}
		seen[strings.ToLower(ref)] = true
		raw := make(map[string]any, len(rec))
		for k, v := range rec {
			if k != "attributes" {
				raw[k] = v
			}
		}
		items[i].ref = ref
		if _, ok := raw["Id"]; ok {
			items[i].err = newErr(http.StatusBadRequest, "INVALID_FIELD_FOR_INSERT_UPDATE", "Record ID: cannot specify Id in an insert call", "Id")
			continue
		}
		vals, err := o.convert(raw)
		if err != nil && err.request {
			return s.fail(err)
		}
		items[i].vals, items[i].err = vals, err
	}

	c.recordLatency(len(items))
	defer c.lock()()
	tx := c.txn()
	mark := len(tx.undo)
	w := c.writeOpts()
	results := make([]treeResult, 0, len(items))
	var failed []treeResult
	for _, it := range items {
		err := it.err
		if err == nil {
			var r *record
			if r, err = s.create(s.objs[o], it.vals, w, tx); err == nil {
				results = append(results, treeResult{ReferenceID: it.ref, ID: r.id})
				continue
			}
		}
		failed = append(failed, treeResult{ReferenceID: it.ref, Errors: []recordError{err.record()}})
	}
	if len(failed) > 0 {
		tx.rollbackTo(mark)
		return &response{status: http.StatusBadRequest, body: map[string]any{"hasErrors": true, "results": failed}, failed: true}
	}
	return jsonResp(http.StatusCreated, map[string]any{"hasErrors": false, "results": results})
}

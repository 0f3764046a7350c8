package sfsim

import (
	"fmt"
	"net/http"
	"strings"
)

// object resolves the {type} path segment.
func (c *call) object() (*objectInfo, *apiError) {
	o := c.s.model.object(c.segs[1])
	if o == nil {
		return nil, errNotFound()
	}
	return o, nil
}

// recordBody decodes a single-record body.
func (c *call) recordBody() (map[string]any, *apiError) {
	var raw map[string]any
	if err := decodeBody(c.body, &raw); err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, errJSON("Cannot deserialize instance of `SObject` out of VALUE_NULL token at [line:1, column:1]")
	}
	return raw, nil
}

func saveOK(id string) map[string]any {
	return map[string]any{"id": id, "success": true, "errors": []any{}}
}

// hCreate is POST /sobjects/{type} (and POST /sobjects/{type}/Id).
func (s *Server) hCreate(c *call) *response {
	o, err := c.object()
	if err != nil {
		return s.fail(err)
	}
	raw, err := c.recordBody()
	if err != nil {
		return s.fail(err)
	}
	if _, ok := raw["Id"]; ok {
		return s.fail(newErr(http.StatusBadRequest, "INVALID_FIELD_FOR_INSERT_UPDATE", "Record ID: cannot specify Id in an insert call", "Id"))
	}
	vals, err := o.convert(raw)
	if err != nil {
		return s.fail(err)
	}
	c.recordLatency(1)
	defer c.lock()()
	r, err := s.create(s.objs[o], vals, c.writeOpts(), c.txn())
	if err != nil {
		return s.fail(err)
	}
	return &response{status: http.StatusCreated, body: saveOK(r.id),
		header: map[string]string{"Location": sobjectURL(c.version, o.name, r.id)}}
}

// find resolves an Id segment to a live record.
func (c *call) find(os *objectStore, id string) (*record, *apiError) {
	k := idKey(id)
	if k == "" {
		return nil, newErr(http.StatusNotFound, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: "+id)
	}
	if r := os.byKey[k]; r != nil {
		return r, nil
	}
	if c.s.deleted[k] == os.info {
		return nil, newErr(http.StatusNotFound, "ENTITY_IS_DELETED", "entity is deleted")
	}
	return nil, errNotFound()
}

// renderRecord returns a record as the API does: attributes, then fields
// (all, or the ?fields= list).
func (c *call) renderRecord(o *objectInfo, r *record) (map[string]any, *apiError) {
	out := map[string]any{"attributes": attributes(o.name, r.id, c.version)}
	if fl := c.query.Get("fields"); fl != "" {
		for _, name := range strings.Split(fl, ",") {
			name = strings.TrimSpace(name)
			f := o.field(name)
			if f == nil {
				return nil, newErr(http.StatusBadRequest, "INVALID_FIELD",
					fmt.Sprintf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", name, o.name))
			}
			out[f.Name] = r.f[f.Name]
		}
		return out, nil
	}
	for _, f := range o.fields {
		out[f.Name] = r.f[f.Name]
	}
	return out, nil
}

// hGet is GET /sobjects/{type}/{id}.
func (s *Server) hGet(c *call) *response {
	o, err := c.object()
	if err != nil {
		return s.fail(err)
	}
	defer c.rlock()()
	r, err := c.find(s.objs[o], c.segs[2])
	if err != nil {
		return s.fail(err)
	}
	out, err := c.renderRecord(o, r)
	if err != nil {
		return s.fail(err)
	}
	return jsonResp(http.StatusOK, out)
}

// hUpdate is PATCH /sobjects/{type}/{id}: 204 on success.
func (s *Server) hUpdate(c *call) *response {
	o, err := c.object()
	if err != nil {
		return s.fail(err)
	}
	raw, err := c.recordBody()
	if err != nil {
		return s.fail(err)
	}
	if v, ok := raw["Id"]; ok {
		if id, _ := v.(string); idKey(id) != idKey(c.segs[2]) {
			return s.fail(newErr(http.StatusBadRequest, "INVALID_FIELD_FOR_INSERT_UPDATE", "Record ID: the Id in the body does not match the Id in the URL", "Id"))
		}
		delete(raw, "Id")
	}
	vals, err := o.convert(raw)
	if err != nil {
		return s.fail(err)
	}
	c.recordLatency(1)
	defer c.lock()()
	os := s.objs[o]
	r, err := c.find(os, c.segs[2])
	if err != nil {
		return s.fail(err)
	}
	w := c.writeOpts()
	w.editByID = true
	if err := s.update(os, r, vals, w, c.txn()); err != nil {
		return s.fail(err)
	}
	return &response{status: http.StatusNoContent}
}

// hDelete is DELETE /sobjects/{type}/{id}.
func (s *Server) hDelete(c *call) *response {
	o, err := c.object()
	if err != nil {
		return s.fail(err)
	}
	if o.system {
		return s.fail(errSystemObject(o, "deleted"))
	}
	c.recordLatency(1)
	defer c.lock()()
	os := s.objs[o]
	r, err := c.find(os, c.segs[2])
	if err != nil {
		return s.fail(err)
	}
	s.deleteRecord(os, r, c.txn())
	return &response{status: http.StatusNoContent}
}

func (s *Server) deleteRecord(os *objectStore, r *record, tx *txn) {
	os.remove(r, tx)
	s.deleted[r.key] = os.info
	tx.add(func() { delete(s.deleted, r.key) })
}

// extField resolves the {field}/{value} segments of an upsert path: the
// field must be an external ID (or Id); an encoded '/' in the value is not
// found, as on Salesforce.
func (c *call) extField(o *objectInfo) (*fieldInfo, any, *apiError) {
	f := o.field(c.segs[2])
	if f == nil || !(f.ExternalID || f.Name == "Id" || f.unique) {
		return nil, nil, errNotFound()
	}
	if strings.Contains(strings.ToLower(c.rawSegs[3]), "%2f") {
		return nil, nil, errNotFound()
	}
	if f.Name == "Id" {
		if idKey(c.segs[3]) == "" {
			return nil, nil, errMalformedID("Record ID", c.segs[3], "")
		}
		return f, c.segs[3], nil
	}
	v, err := convertValue(f, c.segs[3])
	if err != nil || v == nil {
		return nil, nil, errNotFound()
	}
	return f, v, nil
}

// hUpsert is PATCH /sobjects/{type}/{field}/{value}: 201 created, 200
// updated (v46.0+) or 204 (v45.0), 300 on several matches.
func (s *Server) hUpsert(c *call) *response {
	o, err := c.object()
	if err != nil {
		return s.fail(err)
	}
	fi, ext, err := c.extField(o)
	if err != nil {
		return s.fail(err)
	}
	raw, err := c.recordBody()
	if err != nil {
		return s.fail(err)
	}
	if _, ok := raw["Id"]; ok {
		return s.fail(newErr(http.StatusBadRequest, "INVALID_FIELD_FOR_INSERT_UPDATE", "Record ID: cannot specify Id in an upsert call", "Id"))
	}
	vals, err := o.convert(raw)
	if err != nil {
		return s.fail(err)
	}
	if bv, ok := vals[fi.Name]; ok && fi.Name != "Id" && indexKey(fi, bv) != indexKey(fi, ext) {
		return s.fail(newErr(http.StatusBadRequest, "INVALID_FIELD",
			fmt.Sprintf("%s: the value in the request body does not match the value in the URL", fi.Name), fi.Name))
	}
	c.recordLatency(1)
	defer c.lock()()
	res := s.upsert(s.objs[o], fi, ext, vals, c.writeOpts(), c.txn())
	switch {
	case len(res.matches) > 1:
		urls := make([]string, len(res.matches))
		for i, r := range res.matches {
			urls[i] = sobjectURL(c.version, o.name, r.id)
		}
		return jsonResp(http.StatusMultipleChoices, urls)
	case res.err != nil:
		return s.fail(res.err)
	case res.created:
		body := saveOK(res.rec.id)
		if c.version >= 46 {
			body["created"] = true
		}
		return &response{status: http.StatusCreated, body: body,
			header: map[string]string{"Location": sobjectURL(c.version, o.name, res.rec.id)}}
	case c.version <= 45:
		return &response{status: http.StatusNoContent}
	}
	body := saveOK(res.rec.id)
	body["created"] = false
	return jsonResp(http.StatusOK, body)
}

// byExt finds the records an external ID path names.
func (c *call) byExt(o *objectInfo) ([]*record, *apiError) {
	fi, ext, err := c.extField(o)
	if err != nil {
		return nil, err
	}
	os := c.s.objs[o]
	if fi.Name == "Id" {
		r, err := c.find(os, c.segs[3])
		if err != nil {
			return nil, err
		}
		return []*record{r}, nil
	}
	m := os.lookup(fi, ext)
	if len(m) == 0 {
		return nil, errNotFound()
	}
	return m, nil
}

func (c *call) multiple(o *objectInfo, m []*record) *response {
	urls := make([]string, len(m))
	for i, r := range m {
		urls[i] = sobjectURL(c.version, o.name, r.id)
	}
	return jsonResp(http.StatusMultipleChoices, urls)
}

// hGetByExt is GET /sobjects/{type}/{field}/{value}.
func (s *Server) hGetByExt(c *call) *response {
	o, err := c.object()
	if err != nil {
		return s.fail(err)
	}
	defer c.rlock()()
	m, err := c.byExt(o)
	if err != nil {
		return s.fail(err)
	}
	if len(m) > 1 {
		return c.multiple(o, m)
	}
	out, err := c.renderRecord(o, m[0])
	if err != nil {
		return s.fail(err)
	}
	return jsonResp(http.StatusOK, out)
}

// hDeleteByExt is DELETE /sobjects/{type}/{field}/{value}.
func (s *Server) hDeleteByExt(c *call) *response {
	o, err := c.object()
	if err != nil {
		return s.fail(err)
	}
	if o.system {
		return s.fail(errSystemObject(o, "deleted"))
	}
	c.recordLatency(1)
	defer c.lock()()
	m, err := c.byExt(o)
	if err != nil {
		return s.fail(err)
	}
	if len(m) > 1 {
		return c.multiple(o, m)
	}
	s.deleteRecord(s.objs[o], m[0], c.txn())
	return &response{status: http.StatusNoContent}
}

package sfsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

const maxSubrequests = 25

type compositeBody struct {
	AllOrNone          bool         `json:"allOrNone"`
	CollateSubrequests *bool        `json:"collateSubrequests"`
	CompositeRequest   []subrequest `json:"compositeRequest"`
}

type subrequest struct {
	Method      string            `json:"method"`
	URL         string            `json:"url"`
	ReferenceID string            `json:"referenceId"`
	Body        json.RawMessage   `json:"body"`
	HTTPHeaders map[string]string `json:"httpHeaders"`
}

type subresponse struct {
	Body           any               `json:"body"`
	HTTPHeaders    map[string]string `json:"httpHeaders"`
	HTTPStatusCode int               `json:"httpStatusCode"`
	ReferenceID    string            `json:"referenceId"`
}

var (
	refIDRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_]*$`)
	refUseRE = regexp.MustCompile(`@\{([A-Za-z0-9][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+|\[[0-9]+\])*)\}`)
)

func errInput(msg string) *apiError { return newErr(http.StatusBadRequest, "INVALID_INPUT", msg) }

// hComposite is POST /composite: subrequests in order, one transaction,
// @{ref.path} references, allOrNone with PROCESSING_HALTED.
func (s *Server) hComposite(c *call) *response {
	if c.inTx {
		return s.fail(errInput("A composite request cannot contain another composite request"))
	}
	var b compositeBody
	if err := decodeBody(c.body, &b); err != nil {
		return s.fail(err)
	}
	switch n := len(b.CompositeRequest); {
	case n == 0:
		return s.fail(errInput("compositeRequest must contain at least one subrequest"))
	case n > maxSubrequests:
		return s.fail(newErr(http.StatusBadRequest, "LIMIT_EXCEEDED", fmt.Sprintf("Limit Exceeded: a composite request can contain at most %d subrequests, got %d", maxSubrequests, n)))
	}
	seen := map[string]bool{}
	for _, sr := range b.CompositeRequest {
		switch {
		case !refIDRE.MatchString(sr.ReferenceID):
			return s.fail(errInput(fmt.Sprintf("Invalid referenceId %q: use letters, digits and underscores, starting with a letter or digit", sr.ReferenceID)))
		case seen[sr.ReferenceID]:
			return s.fail(errInput("Duplicate referenceId provided in the request: " + sr.ReferenceID))
		case sr.URL == "":
			return s.fail(errInput("url is required in subrequest " + sr.ReferenceID))
		}
		switch sr.Method {
		case http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		default:
			return s.fail(errInput(fmt.Sprintf("Invalid method %q in subrequest %s", sr.Method, sr.ReferenceID)))
		}
		seen[sr.ReferenceID] = true
	}

	c.recordLatency(compositeRecords(b.CompositeRequest))
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := &txn{}
	out := make([]subresponse, len(b.CompositeRequest))
	bodies := map[string]any{}
	okRef := map[string]bool{}
	failedAt := -1
	for i, sr := range b.CompositeRequest {
		resp := s.runSubrequest(c, tx, b.AllOrNone, sr, bodies, okRef)
		out[i] = resp
		failed := resp.HTTPStatusCode >= 400
		if !failed {
			okRef[sr.ReferenceID] = true
		}
		bodies[sr.ReferenceID] = resp.Body
		if b.AllOrNone && (failed || resp.HTTPHeaders["X-Sfsim-Failed"] == "true") {
			failedAt = i
			break
		}
	}
	for i := range out {
		delete(out[i].HTTPHeaders, "X-Sfsim-Failed")
	}
	if failedAt >= 0 {
		tx.rollback()
		halted := []any{map[string]any{"errorCode": "PROCESSING_HALTED", "message": msgHalted}}
		for i, sr := range b.CompositeRequest {
			if i != failedAt {
				out[i] = subresponse{Body: halted, HTTPHeaders: map[string]string{}, HTTPStatusCode: http.StatusBadRequest, ReferenceID: sr.ReferenceID}
			}
		}
	}
	return jsonResp(http.StatusOK, map[string]any{"compositeResponse": out})
}

// runSubrequest resolves references and runs one subrequest in the
// composite's transaction.
func (s *Server) runSubrequest(c *call, tx *txn, allOrNone bool, sr subrequest, bodies map[string]any, okRef map[string]bool) subresponse {
	res := subresponse{HTTPHeaders: map[string]string{}, ReferenceID: sr.ReferenceID}
	failWith := func(e *apiError) subresponse {
		res.HTTPStatusCode = e.status
		res.Body = toGeneric([]any{e.topLevel(s.cfg.DuplicateResultKey)})
		return res
	}
	var refErr *apiError
	resolve := func(text string, inJSON bool) string {
		return refUseRE.ReplaceAllStringFunc(text, func(m string) string {
			sm := refUseRE.FindStringSubmatch(m)
			ref, path := sm[1], sm[2]
			v, ok := lookupPath(bodies[ref], path)
			if !ok || !okRef[ref] {
				if refErr == nil {
					refErr = newErr(http.StatusBadRequest, "PROCESSING_HALTED",
						fmt.Sprintf("Invalid reference specified. No value for %s%s found in %s. Provided referenceId ('%s') must match a previous subrequest.", ref, path, ref, ref))
				}
				return m
			}
			str := valueString(v)
			if inJSON {
				b, _ := json.Marshal(str)
				return string(b[1 : len(b)-1])
			}
			return str
		})
	}
	u := resolve(sr.URL, false)
	body := []byte(resolve(string(sr.Body), true))
	if refErr != nil {
		return failWith(refErr)
	}
	parsed, err := url.Parse(u)
	if err != nil {
		return failWith(errNotFound())
	}
	path := parsed.EscapedPath()
	version := c.version
	if rest, ok := strings.CutPrefix(path, "/services/data/"); ok {
		vseg, r, _ := strings.Cut(rest, "/")
		v, ok := parseVersion(vseg)
		if !ok {
			return failWith(errNotFound())
		}
		version, path = v, r
	} else {
		path = strings.TrimPrefix(path, "/")
	}
	hdr := c.header.Clone()
	for k, v := range sr.HTTPHeaders {
		hdr.Set(k, v)
	}
	sub := &call{s: s, method: sr.Method, version: version, query: parsed.Query(), header: hdr, ctx: c.ctx,
		sess: c.sess, inTx: true, tx: tx, forceAllOrNone: allOrNone}
	if string(body) != "null" {
		sub.body = body
	}
	if err := sub.setPath(path); err != nil {
		return failWith(err)
	}
	rt := s.route(sub)
	resp := rt.h(sub)
	res.HTTPStatusCode = resp.status
	for k, v := range resp.header {
		res.HTTPHeaders[k] = v
	}
	if resp.failed {
		res.HTTPHeaders["X-Sfsim-Failed"] = "true"
	}
	if resp.body != nil {
		res.Body = toGeneric(resp.body)
	}
	return res
}

// toGeneric round-trips v through JSON so references can walk it.
func toGeneric(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var g any
	_ = json.Unmarshal(b, &g)
	return g
}

// lookupPath walks ".field" and "[n]" steps of a reference.
func lookupPath(v any, path string) (any, bool) {
	for path != "" {
		switch path[0] {
		case '.':
			end := strings.IndexAny(path[1:], ".[")
			if end < 0 {
				end = len(path) - 1
			}
			key := path[1 : end+1]
			path = path[end+1:]
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[key]; !ok {
				return nil, false
			}
		case '[':
			end := strings.IndexByte(path, ']')
			n, _ := strconv.Atoi(path[1:end])
			path = path[end+1:]
			l, ok := v.([]any)
			if !ok || n >= len(l) {
				return nil, false
			}
			v = l[n]
		default:
			return nil, false
		}
	}
	return v, v != nil
}

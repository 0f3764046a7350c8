package sfsim

import (
	"fmt"
	"net/http"
	"strings"
)

// dupResult is the duplicateResult object of a DUPLICATES_DETECTED error.
type dupResult struct {
	AllowSave               bool          `json:"allowSave"`
	DuplicateRule           string        `json:"duplicateRule"`
	DuplicateRuleEntityType string        `json:"duplicateRuleEntityType"`
	ErrorMessage            string        `json:"errorMessage"`
	MatchResults            []matchResult `json:"matchResults"`
}

type matchResult struct {
	EntityType   string        `json:"entityType"`
	Errors       []any         `json:"errors"`
	MatchEngine  string        `json:"matchEngine"`
	MatchRecords []matchRecord `json:"matchRecords"`
	Rule         string        `json:"rule"`
	Size         int           `json:"size"`
	Success      bool          `json:"success"`
}

type matchRecord struct {
	AdditionalInformation []any          `json:"additionalInformation"`
	FieldDiffs            []any          `json:"fieldDiffs"`
	MatchConfidence       float64        `json:"matchConfidence"`
	Record                map[string]any `json:"record"`
}

// dupHeader is a parsed Sforce-Duplicate-Rule-Header.
type dupHeader struct{ allowSave, details, runAsCurrentUser bool }

// parseDupHeader reads "allowSave=true; includeRecordDetails=true;
// runAsCurrentUser=true" (all default false; ',' also separates).
func parseDupHeader(h string) dupHeader {
	var d dupHeader
	for _, part := range strings.FieldsFunc(h, func(r rune) bool { return r == ';' || r == ',' }) {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		on := strings.EqualFold(strings.TrimSpace(v), "true")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "allowsave":
			d.allowSave = on
		case "includerecorddetails":
			d.details = on
		case "runascurrentuser":
			d.runAsCurrentUser = on
		}
	}
	return d
}

// checkDuplicates runs the object's duplicate rules on a record's new
// state f (old = its previous state, nil on create). A rule fires on
// create, and on an edit that changes the match key to one another record
// has; the integration user's edits by Id are exempt where the rule says
// so. Allow+alert refuses unless allowSave; Block always refuses.
func (s *Server) checkDuplicates(os *objectStore, self *record, old, f map[string]any, w *writeOpts) *apiError {
	if w.seed || s.cfg.DuplicateAction == ActionOff {
		return nil
	}
	allow := s.cfg.DuplicateAction == ActionAllowAlert
	if allow && w.allowSave {
		return nil
	}
	for i, dr := range os.info.dupRules {
		if old != nil && w.editByID && w.integration && dr.ExemptIntegration {
			continue
		}
		k := dupKey(dr, f)
		if k == "" || old != nil && dupKey(dr, old) == k {
			continue
		}
		var matches []*record
		for _, r := range os.dup[i][k] {
			if r != self {
				matches = append(matches, r)
			}
		}
		if len(matches) == 0 {
			continue
		}
		return s.dupError(os, dr, matches, allow, w)
	}
	return nil
}

func (s *Server) dupError(os *objectStore, dr *dupRule, matches []*record, allow bool, w *writeOpts) *apiError {
	mr := matchResult{EntityType: os.info.name, Errors: []any{}, MatchEngine: "ExactMatchEngine",
		Rule: dr.MatchingRule, Size: len(matches), Success: true}
	for _, r := range matches {
		rec := map[string]any{"attributes": attributes(os.info.name, r.id, w.version), "Id": r.id}
		if w.details {
			for _, fi := range os.info.fields {
				if !fi.system {
					rec[fi.Name] = r.f[fi.Name]
				}
			}
		}
		mr.MatchRecords = append(mr.MatchRecords, matchRecord{AdditionalInformation: []any{}, FieldDiffs: []any{},
			MatchConfidence: 100.0, Record: rec})
	}
	e := newErr(http.StatusBadRequest, "DUPLICATES_DETECTED", dr.AlertText)
	e.dup = &dupResult{AllowSave: allow, DuplicateRule: dr.Name, DuplicateRuleEntityType: os.info.name,
		ErrorMessage: dr.AlertText, MatchResults: []matchResult{mr}}
	return e
}

// attributes is the "attributes" object of a returned record.
func attributes(object, id string, version int) map[string]any {
	a := map[string]any{"type": object}
	if id != "" {
		a["url"] = sobjectURL(version, object, id)
	}
	return a
}

func sobjectURL(version int, object, id string) string {
	return fmt.Sprintf("/services/data/v%d.0/sobjects/%s/%s", version, object, id)
}

package sfsim

import (
	"fmt"
	"net/http"
	"strings"
)

func (c *call) objectSummary(o *objectInfo) map[string]any {
	base := fmt.Sprintf("/services/data/v%d.0/sobjects/%s", c.version, o.name)
	return map[string]any{
		"name": o.name, "label": o.label, "labelPlural": o.label + "s", "keyPrefix": o.prefix, "custom": o.custom,
		"createable": !o.system, "updateable": !o.system, "deletable": !o.system, "queryable": true, "retrieveable": true,
		"searchable": true, "layoutable": true,
		"urls": map[string]string{"sobject": base, "describe": base + "/describe", "rowTemplate": base + "/{ID}"},
	}
}

// hDescribeGlobal is GET /sobjects.
func (s *Server) hDescribeGlobal(c *call) *response {
	var list []map[string]any
	for _, o := range s.model.objects {
		list = append(list, c.objectSummary(o))
	}
	return jsonResp(http.StatusOK, map[string]any{"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list})
}

// hObjectInfo is GET /sobjects/{type}.
func (s *Server) hObjectInfo(c *call) *response {
	o, err := c.object()
	if err != nil {
		return s.fail(err)
	}
	return jsonResp(http.StatusOK, map[string]any{"objectDescribe": c.objectSummary(o), "recentItems": []any{}})
}

// hDescribe is GET /sobjects/{type}/describe.
func (s *Server) hDescribe(c *call) *response {
	o, err := c.object()
	if err != nil {
		return s.fail(err)
	}
	out := c.objectSummary(o)
	var fields []map[string]any
	for _, f := range o.fields {
		length := 0
		if textTypes[f.Type] || f.Type == "id" || f.Type == "reference" {
			length = f.Length
		}
		refTo := []string{}
		switch {
		case f.ReferenceTo != "":
			refTo = []string{f.ReferenceTo}
		case f.Name == "CreatedById" || f.Name == "LastModifiedById":
			refTo = []string{"User"}
		}
		var pick []map[string]any
		for _, v := range f.Picklist {
			pick = append(pick, map[string]any{"value": v, "label": v, "active": true, "defaultValue": v == f.Default})
		}
		if pick == nil {
			pick = []map[string]any{}
		}
		editable := !f.ReadOnly
		var relName any
		if f.Type == "reference" {
			relName = relationshipName(f.Name)
		}
		fields = append(fields, map[string]any{
			"name": f.Name, "label": f.Label, "type": f.Type, "length": length,
			"externalId": f.ExternalID, "unique": f.unique, "caseSensitive": f.unique && !f.ci,
			"nillable":   !f.Required && f.Type != "boolean" && !f.system,
			"updateable": editable, "createable": editable, "idLookup": f.idLookup, "custom": len(f.Name) > 3 && f.Name[len(f.Name)-3:] == "__c",
			"calculated": f.Name == "Name" && o.computedName, "filterable": true, "sortable": f.Type != "textarea",
			"referenceTo": refTo, "picklistValues": pick, "defaultValue": f.defaultVal, "restrictedPicklist": f.Restricted,
			"relationshipName": relName,
		})
	}
	out["fields"] = fields
	out["childRelationships"] = s.childRelationships(o)
	return jsonResp(http.StatusOK, out)
}

// relationshipName is the name a reference field is traversed by:
// Existing_Contact__c → Existing_Contact__r, CreatedById → CreatedBy.
func relationshipName(field string) string {
	if base, ok := strings.CutSuffix(field, "__c"); ok {
		return base + "__r"
	}
	return strings.TrimSuffix(field, "Id")
}

// childRelationships lists the reference fields of the schema's objects
// that point to o. The emulator has no child relationship names (SOQL
// subqueries are not supported), so relationshipName is null, as
// Salesforce reports it for relationships that cannot be traversed.
func (s *Server) childRelationships(o *objectInfo) []map[string]any {
	out := []map[string]any{}
	for _, child := range s.model.objects {
		for _, f := range child.fields {
			if f.Type != "reference" || !strings.EqualFold(f.ReferenceTo, o.name) {
				continue
			}
			out = append(out, map[string]any{"childSObject": child.name, "field": f.Name,
				"relationshipName": nil, "cascadeDelete": false, "restrictedDelete": false, "deprecatedAndHidden": false})
		}
	}
	return out
}

package sfsim

import (
	"github.com/contactsync/contactsync/pkg/sfsim/soql"
)

// columnMetadata is GET /query?q=…&columns=true: the query is parsed and
// described, not run. The Salesforce CLI's `sf data query` sends it after
// every query to learn the columns it prints. The shape follows the answer
// real orgs send (recorded by the CLI's own tests and Developer Console
// users; not in the REST reference): columnMetadata in select order, with
// aggregate columns named by alias or exprN. An aliased aggregate is
// displayed by its alias, an unaliased one as written ("COUNT(Id)"): the
// CLI labels and looks up aggregate values that way (inferred from its
// reporters, not confirmed against a real org).
func columnMetadata(o *objectInfo, q *soql.Query) map[string]any {
	cols := []map[string]any{}
	idSelected := false
	for _, c := range q.Columns() {
		f := o.field(c.Field)
		custom, editable := false, false
		apexType := "String"
		if f != nil {
			custom = len(f.Name) > 3 && f.Name[len(f.Name)-3:] == "__c"
			editable = !f.ReadOnly && !f.system && !o.system
			apexType = apexTypes[f.Type]
		}
		if c.Aggregate {
			custom, editable, apexType = false, false, "Integer"
		}
		if !c.Aggregate && c.Field == "Id" {
			idSelected = true
		}
		typ := c.Type
		if c.Aggregate {
			typ = "int"
		}
		cols = append(cols, map[string]any{
			"aggregate": c.Aggregate, "apexType": apexType, "booleanType": typ == "boolean",
			"columnName": c.Name, "custom": custom, "displayName": c.Display, "foreignKeyName": nil,
			"insertable": editable, "joinColumns": []any{}, "numberType": numberTypes[typ],
			"textType": textTypes[typ] || typ == "id" || typ == "reference", "updatable": editable,
		})
	}
	return map[string]any{"columnMetadata": cols, "entityName": o.name, "groupBy": q.Aggregate(),
		"idSelected": idSelected, "keyPrefix": o.prefix}
}

var numberTypes = map[string]bool{"double": true, "int": true, "currency": true, "percent": true}

// apexTypes maps describe types to the Apex types column metadata names.
var apexTypes = map[string]string{
	"id": "Id", "reference": "Id", "string": "String", "email": "String", "textarea": "String",
	"phone": "String", "url": "String", "picklist": "String", "boolean": "Boolean", "double": "Double",
	"int": "Integer", "currency": "Decimal", "percent": "Double", "date": "Date", "datetime": "Datetime",
}

package soql

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxQueryLen is the longest statement Salesforce accepts, in characters.
const maxQueryLen = 100000

// maxDepth bounds the nesting of parentheses and NOT in a condition.
const maxDepth = 100

// maxOffset is the largest OFFSET Salesforce accepts.
const maxOffset = 2000

// reserved words cannot be used as field names or aliases.
var reserved = map[string]bool{
	"SELECT": true, "FROM": true, "WHERE": true, "AND": true, "OR": true, "NOT": true,
	"IN": true, "LIKE": true, "GROUP": true, "BY": true, "HAVING": true, "ORDER": true,
	"ASC": true, "DESC": true, "NULLS": true, "LIMIT": true, "OFFSET": true,
	"NULL": true, "TRUE": true, "FALSE": true, "INCLUDES": true, "EXCLUDES": true,
	"WITH": true, "FOR": true, "USING": true, "TYPEOF": true, "FIELDS": true,
	"ROLLUP": true, "CUBE": true, "FIRST": true, "LAST": true,
}

type parser struct {
	q      string
	toks   []token
	i      int
	schema Schema
	obj    ObjectInfo
	query  *Query
	depth  int
}

// Parse parses a SOQL statement and binds it against schema. Errors are
// *Error: MALFORMED_QUERY for syntax and type mismatches, INVALID_TYPE for an
// unknown object, INVALID_FIELD for an unknown field.
func Parse(q string, schema Schema) (*Query, error) {
	query, err := parse(q, schema)
	if err != nil {
		return nil, err
	}
	return query, nil
}

func parse(q string, schema Schema) (*Query, *Error) {
	if len(q) > maxQueryLen && utf8.RuneCountInString(q) > maxQueryLen {
		return nil, malformed("query too long: a SOQL statement is limited to 100000 characters")
	}
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{q: q, toks: toks, schema: schema, query: &Query{limit: -1}}
	if err := p.parseStatement(); err != nil {
		return nil, err
	}
	return p.query, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// isKw reports whether t is the keyword kw (upper case), in any case.
func isKw(t token, kw string) bool { return t.kind == tIdent && strings.EqualFold(t.text, kw) }

func (p *parser) isPunct(s string) bool { t := p.peek(); return t.kind == tPunct && t.text == s }

func (p *parser) unexpected(t token) *Error {
	if t.kind == tEOF {
		return errAt(p.q, t.pos, CodeMalformedQuery, "unexpected token: <EOF>")
	}
	text := p.q[t.pos:t.end]
	return errAt(p.q, t.pos, CodeMalformedQuery, "unexpected token: '"+text+"'")
}

func (p *parser) expectKw(kw string) *Error {
	if t := p.next(); !isKw(t, kw) {
		return p.unexpected(t)
	}
	return nil
}

func (p *parser) expectPunct(s string) *Error {
	if t := p.next(); t.kind != tPunct || t.text != s {
		return p.unexpected(t)
	}
	return nil
}

// rawItem is a SELECT item before the object is known.
type rawItem struct {
	count    bool  // COUNT(...) or COUNT()
	name     token // field, or COUNT's argument (tEOF for COUNT())
	alias    token
	hasAlias bool
	pos      int
}

func (p *parser) parseStatement() *Error {
	if err := p.expectKw("SELECT"); err != nil {
		return err
	}
	var raw []rawItem
	for {
		it, err := p.parseSelectItem()
		if err != nil {
			return err
		}
		raw = append(raw, it)
		if !p.isPunct(",") {
			break
		}
		p.next()
	}
	if err := p.expectKw("FROM"); err != nil {
		return err
	}
	objTok := p.next()
	if objTok.kind != tIdent || reserved[strings.ToUpper(objTok.text)] {
		return p.unexpected(objTok)
	}
	var ok bool
	if p.schema != nil {
		p.obj, ok = p.schema(objTok.text)
	}
	if !ok {
		return &Error{Code: CodeInvalidType, Message: "sObject type '" + objTok.text + "' is not supported."}
	}
	p.query.object = p.obj.Name
	if err := p.bindSelect(raw); err != nil {
		return err
	}
	if isKw(p.peek(), "WHERE") {
		p.next()
		c, err := p.parseExpr(false)
		if err != nil {
			return err
		}
		p.query.where = c
	}
	if isKw(p.peek(), "GROUP") {
		if err := p.parseGroupBy(); err != nil {
			return err
		}
	}
	if err := p.checkGrouping(raw); err != nil {
		return err
	}
	if isKw(p.peek(), "HAVING") {
		t := p.next()
		if !p.query.grouped {
			return errAt(p.q, t.pos, CodeMalformedQuery, "HAVING requires GROUP BY or an aggregate query")
		}
		c, err := p.parseExpr(true)
		if err != nil {
			return err
		}
		p.query.having = c
	}
	if isKw(p.peek(), "ORDER") {
		if err := p.parseOrderBy(); err != nil {
			return err
		}
	}
	if isKw(p.peek(), "LIMIT") {
		p.next()
		n, err := p.parseCount(math.MaxInt32)
		if err != nil {
			return err
		}
		p.query.limit = n
	}
	if isKw(p.peek(), "OFFSET") {
		p.next()
		n, err := p.parseCount(maxOffset)
		if err != nil {
			return err
		}
		p.query.offset = n
	}
	if t := p.peek(); t.kind != tEOF {
		return p.unexpected(t)
	}
	return nil
}

func (p *parser) parseSelectItem() (rawItem, *Error) {
	t := p.next()
	if t.kind != tIdent || reserved[strings.ToUpper(t.text)] {
		return rawItem{}, p.unexpected(t)
	}
	it := rawItem{name: t, pos: t.pos}
	if !p.isPunct("(") {
		if p.isPunct(".") {
			return rawItem{}, p.relationship(t)
		}
		return it, nil
	}
	if !strings.EqualFold(t.text, "COUNT") {
		return rawItem{}, errAt(p.q, t.pos, CodeMalformedQuery, "unsupported function: '"+t.text+"' (only COUNT is supported)")
	}
	p.next() // (
	it.count = true
	it.name = token{kind: tEOF, pos: t.pos}
	if !p.isPunct(")") {
		a := p.next()
		if a.kind != tIdent || reserved[strings.ToUpper(a.text)] {
			return rawItem{}, p.unexpected(a)
		}
		if p.isPunct(".") {
			return rawItem{}, p.relationship(a)
		}
		it.name = a
	}
	if err := p.expectPunct(")"); err != nil {
		return rawItem{}, err
	}
	if a := p.peek(); a.kind == tIdent && !reserved[strings.ToUpper(a.text)] {
		if it.name.kind == tEOF {
			return rawItem{}, p.unexpected(a)
		}
		p.next()
		it.alias, it.hasAlias = a, true
	}
	return it, nil
}

// relationship reports a relationship path (Account.Name), which this
// subset does not support, as Salesforce reports an unknown relationship.
func (p *parser) relationship(t token) *Error {
	return errAt(p.q, t.pos, CodeInvalidField, "Didn't understand relationship '"+t.text+
		"' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.")
}

// lookupField binds a field name token against the object.
func (p *parser) lookupField(t token) (*field, *Error) {
	fi, ok := p.obj.Fields[strings.ToLower(t.text)]
	if !ok && strings.EqualFold(t.text, "Id") {
		fi, ok = FieldInfo{Name: "Id", Type: "id"}, true
	}
	if !ok {
		return nil, errAt(p.q, t.pos, CodeInvalidField, "No such column '"+t.text+"' on entity '"+p.obj.Name+"'."+noSuchColumn)
	}
	if fi.Name == "" {
		fi.Name = t.text
	}
	cls := classOf(fi.Type)
	return &field{info: fi, cls: cls, fold: cls == clsString && !fi.CaseSensitive}, nil
}

// aggIndex returns the index of COUNT(f) in the query's aggregates, adding
// it if new.
func (p *parser) aggIndex(f *field) int {
	for i, a := range p.query.aggs {
		if a.info.Name == f.info.Name {
			return i
		}
	}
	p.query.aggs = append(p.query.aggs, f)
	return len(p.query.aggs) - 1
}

func (p *parser) bindSelect(raw []rawItem) *Error {
	q := p.query
	seen := map[string]bool{}
	expr := 0
	for _, it := range raw {
		if it.count && it.name.kind == tEOF {
			if len(raw) > 1 {
				return errAt(p.q, it.pos, CodeMalformedQuery, "COUNT() must be the only element in the SELECT list")
			}
			q.countAll = true
			continue
		}
		f, err := p.lookupField(it.name)
		if err != nil {
			return err
		}
		si := selItem{name: f.info.Name, f: f, agg: -1}
		if it.count {
			q.grouped = true
			si.agg = p.aggIndex(f)
			if it.hasAlias {
				si.name, si.aliased = it.alias.text, true
			} else {
				si.name = "expr" + strconv.Itoa(expr)
				expr++
			}
		}
		key := strings.ToLower(si.name)
		if seen[key] {
			pos := it.pos
			if it.hasAlias {
				pos = it.alias.pos
			}
			return errAt(p.q, pos, CodeMalformedQuery, "duplicate field selected: "+si.name)
		}
		seen[key] = true
		q.items = append(q.items, si)
		q.fields = append(q.fields, si.name)
	}
	return nil
}

func (p *parser) parseGroupBy() *Error {
	g := p.next() // GROUP
	if err := p.expectKw("BY"); err != nil {
		return err
	}
	if p.query.countAll {
		return errAt(p.q, g.pos, CodeMalformedQuery, "GROUP BY cannot be used with COUNT(); use COUNT(Id)")
	}
	for {
		t := p.next()
		if t.kind != tIdent || reserved[strings.ToUpper(t.text)] {
			return p.unexpected(t)
		}
		if p.isPunct(".") {
			return p.relationship(t)
		}
		f, err := p.lookupField(t)
		if err != nil {
			return err
		}
		switch strings.ToLower(f.info.Type) {
		case "textarea", "double", "currency", "percent", "datetime":
			return errAt(p.q, t.pos, CodeMalformedQuery, "field '"+f.info.Name+"' can not be grouped in a query call")
		}
		if !p.query.isGrouped(f) {
			p.query.groupBy = append(p.query.groupBy, f)
		}
		if !p.isPunct(",") {
			break
		}
		p.next()
	}
	p.query.grouped = true
	return nil
}

// isGrouped reports whether f is one of the GROUP BY fields.
func (q *Query) isGrouped(f *field) bool {
	for _, g := range q.groupBy {
		if g.info.Name == f.info.Name {
			return true
		}
	}
	return false
}

// checkGrouping rejects plain fields in a grouped query other than the
// grouped fields.
func (p *parser) checkGrouping(raw []rawItem) *Error {
	q := p.query
	if !q.grouped {
		return nil
	}
	for i, it := range q.items {
		if it.agg >= 0 {
			continue
		}
		if !q.isGrouped(it.f) {
			return errAt(p.q, raw[i].pos, CodeMalformedQuery, "Field must be grouped or aggregated: "+it.f.info.Name)
		}
	}
	return nil
}

func (p *parser) parseOrderBy() *Error {
	p.next() // ORDER
	if err := p.expectKw("BY"); err != nil {
		return err
	}
	for {
		t := p.next()
		if t.kind != tIdent || reserved[strings.ToUpper(t.text)] {
			return p.unexpected(t)
		}
		o := orderItem{agg: -1, nullsFirst: true}
		if p.isPunct("(") {
			op, err := p.parseAggregate(t)
			if err != nil {
				return err
			}
			if !p.query.grouped {
				return errAt(p.q, t.pos, CodeMalformedQuery, "aggregate functions in ORDER BY require GROUP BY")
			}
			o.agg = op.agg
		} else {
			if p.isPunct(".") {
				return p.relationship(t)
			}
			f, err := p.lookupField(t)
			if err != nil {
				return err
			}
			if p.query.grouped && !p.query.isGrouped(f) {
				return errAt(p.q, t.pos, CodeMalformedQuery, "Ordered field must be grouped or aggregated: "+f.info.Name)
			}
			o.f = f
		}
		switch {
		case isKw(p.peek(), "ASC"):
			p.next()
		case isKw(p.peek(), "DESC"):
			p.next()
			o.desc = true
		}
		if isKw(p.peek(), "NULLS") {
			p.next()
			switch n := p.next(); {
			case isKw(n, "FIRST"):
			case isKw(n, "LAST"):
				o.nullsFirst = false
			default:
				return p.unexpected(n)
			}
		}
		p.query.order = append(p.query.order, o)
		if !p.isPunct(",") {
			return nil
		}
		p.next()
	}
}

// parseAggregate parses "(field)" after COUNT (name), in HAVING or ORDER BY.
func (p *parser) parseAggregate(name token) (operand, *Error) {
	if !strings.EqualFold(name.text, "COUNT") {
		return operand{}, errAt(p.q, name.pos, CodeMalformedQuery, "unsupported function: '"+name.text+"' (only COUNT is supported)")
	}
	p.next() // (
	a := p.next()
	if a.kind != tIdent || reserved[strings.ToUpper(a.text)] {
		return operand{}, p.unexpected(a)
	}
	if p.isPunct(".") {
		return operand{}, p.relationship(a)
	}
	f, err := p.lookupField(a)
	if err != nil {
		return operand{}, err
	}
	if err := p.expectPunct(")"); err != nil {
		return operand{}, err
	}
	return operand{f: f, agg: p.aggIndex(f)}, nil
}

// parseCount parses the non-negative integer after LIMIT or OFFSET.
func (p *parser) parseCount(max int) (int, *Error) {
	t := p.next()
	if t.kind != tNumber {
		return 0, p.unexpected(t)
	}
	n, err := strconv.Atoi(t.text)
	if err != nil || t.text[0] == '+' || t.text[0] == '-' {
		return 0, errAt(p.q, t.pos, CodeMalformedQuery, "expected a non-negative integer, found '"+t.text+"'")
	}
	if n > max {
		if max == maxOffset {
			return 0, errAt(p.q, t.pos, CodeMalformedQuery, "Maximum SOQL offset allowed is 2000")
		}
		return 0, errAt(p.q, t.pos, CodeMalformedQuery, "LIMIT is too large: "+t.text)
	}
	return n, nil
}

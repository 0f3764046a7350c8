package soql

import (
	"math"
	"strconv"
	"strings"
)

// parseExpr parses a condition: terms joined all by AND or all by OR.
// Mixing the two at one level without parentheses is an error, as in SOQL.
// having allows COUNT(field) operands and restricts fields to the grouped ones.
func (p *parser) parseExpr(having bool) (cond, *Error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, errAt(p.q, p.peek().pos, CodeMalformedQuery, "query is too complicated: conditions nested too deeply")
	}
	first, err := p.parseTerm(having)
	if err != nil {
		return nil, err
	}
	terms := []cond{first}
	joiner := ""
	for {
		t := p.peek()
		var kw string
		switch {
		case isKw(t, "AND"):
			kw = "AND"
		case isKw(t, "OR"):
			kw = "OR"
		default:
			switch {
			case len(terms) == 1:
				return first, nil
			case joiner == "AND":
				return andCond(terms), nil
			default:
				return orCond(terms), nil
			}
		}
		if joiner != "" && joiner != kw {
			return nil, p.unexpected(t)
		}
		joiner = kw
		p.next()
		c, err := p.parseTerm(having)
		if err != nil {
			return nil, err
		}
		terms = append(terms, c)
	}
}

func (p *parser) parseTerm(having bool) (cond, *Error) {
	switch t := p.peek(); {
	case isKw(t, "NOT"):
		p.next()
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxDepth {
			return nil, errAt(p.q, t.pos, CodeMalformedQuery, "query is too complicated: conditions nested too deeply")
		}
		c, err := p.parseTerm(having)
		if err != nil {
			return nil, err
		}
		return notCond{c}, nil
	case t.kind == tPunct && t.text == "(":
		p.next()
		c, err := p.parseExpr(having)
		if err != nil {
			return nil, err
		}
		if err := p.expectPunct(")"); err != nil {
			return nil, err
		}
		return c, nil
	default:
		return p.parseComparison(having)
	}
}

func (p *parser) parseComparison(having bool) (cond, *Error) {
	t := p.next()
	if t.kind != tIdent || reserved[strings.ToUpper(t.text)] {
		return nil, p.unexpected(t)
	}
	var lhs operand
	if p.isPunct("(") {
		if !having {
			return nil, errAt(p.q, t.pos, CodeMalformedQuery, "aggregate functions are not allowed in WHERE; use HAVING")
		}
		op, err := p.parseAggregate(t)
		if err != nil {
			return nil, err
		}
		lhs = op
	} else {
		if p.isPunct(".") {
			return nil, p.relationship(t)
		}
		f, err := p.lookupField(t)
		if err != nil {
			return nil, err
		}
		if having && !p.query.isGrouped(f) {
			return nil, errAt(p.q, t.pos, CodeMalformedQuery, "field must be grouped or aggregated: "+f.info.Name)
		}
		lhs = operand{f: f, agg: -1}
	}
	name := "COUNT"
	if lhs.agg < 0 {
		name = lhs.f.info.Name
	}
	c := &cmpCond{lhs: lhs}
	opTok := p.next()
	switch {
	case opTok.kind == tPunct:
		switch opTok.text {
		case "=":
			c.op = opEq
		case "!=", "<>":
			c.op = opNe
		case "<":
			c.op = opLt
		case "<=":
			c.op = opLe
		case ">":
			c.op = opGt
		case ">=":
			c.op = opGe
		default:
			return nil, p.unexpected(opTok)
		}
	case isKw(opTok, "IN"):
		c.op = opIn
	case isKw(opTok, "NOT"):
		if n := p.next(); !isKw(n, "IN") {
			return nil, p.unexpected(n)
		}
		c.op = opNotIn
	case isKw(opTok, "LIKE"):
		c.op = opLike
	default:
		return nil, p.unexpected(opTok)
	}
	cl := lhs.class()
	switch c.op {
	case opLike:
		if cl != clsString {
			return nil, errAt(p.q, opTok.pos, CodeMalformedQuery, "invalid operator on field '"+name+"': LIKE needs a text field")
		}
		v := p.next()
		if v.kind != tString {
			return nil, p.typeError(v, lhs, name)
		}
		_, pat, err := decodeString(p.q, v, true)
		if err != nil {
			return nil, err
		}
		if lhs.f.fold {
			for i := range pat {
				pat[i].r = foldRune(pat[i].r)
			}
		}
		c.like = pat
		return c, nil
	case opIn, opNotIn:
		return c, p.parseInList(c, name)
	}
	if cl == clsBool && c.op != opEq && c.op != opNe {
		return nil, errAt(p.q, opTok.pos, CodeMalformedQuery, "invalid operator on field '"+name+"': booleans only compare with = and !=")
	}
	v := p.next()
	lit, isNull, rng, err := p.parseValue(v, lhs, name, true)
	if err != nil {
		return nil, err
	}
	if isNull && c.op != opEq && c.op != opNe {
		return nil, errAt(p.q, v.pos, CodeMalformedQuery, "null can only be compared with = and !=")
	}
	c.lit, c.null, c.rng = lit, isNull, rng
	return c, nil
}

func (p *parser) parseInList(c *cmpCond, name string) *Error {
	if err := p.expectPunct("("); err != nil {
		return err
	}
	cl := c.lhs.class()
	if cl == clsString {
		c.set = map[string]struct{}{}
	}
	for {
		v := p.next()
		lit, isNull, _, err := p.parseValue(v, c.lhs, name, false)
		if err != nil {
			return err
		}
		switch {
		case isNull:
			c.hasNull = true
		case c.set != nil:
			c.set[lit.s] = struct{}{}
		default:
			c.list = append(c.list, lit)
		}
		t := p.next()
		if t.kind == tPunct && t.text == ")" {
			return nil
		}
		if t.kind != tPunct || t.text != "," {
			return p.unexpected(t)
		}
	}
}

// parseValue parses a literal compared with lhs and checks its type. With
// ranges set it accepts relative date literals (TODAY, LAST_N_DAYS:n, …).
func (p *parser) parseValue(v token, lhs operand, name string, ranges bool) (value, bool, *dateRange, *Error) {
	cl := lhs.class()
	if isKw(v, "NULL") {
		if lhs.agg >= 0 {
			return value{}, false, nil, p.typeError(v, lhs, name)
		}
		return value{}, true, nil, nil
	}
	switch v.kind {
	case tString:
		if cl != clsString {
			return value{}, false, nil, p.typeError(v, lhs, name)
		}
		s, _, err := decodeString(p.q, v, false)
		if err != nil {
			return value{}, false, nil, err
		}
		if lhs.f.fold {
			s = foldKey(s)
		}
		return value{s: s}, false, nil, nil
	case tNumber:
		if cl != clsNumber {
			return value{}, false, nil, p.typeError(v, lhs, name)
		}
		f, err := strconv.ParseFloat(v.text, 64)
		if err != nil || math.IsInf(f, 0) {
			return value{}, false, nil, errAt(p.q, v.pos, CodeMalformedQuery, "invalid number: "+v.text)
		}
		return value{f: f}, false, nil, nil
	case tDate:
		if cl != clsDate {
			return value{}, false, nil, p.typeError(v, lhs, name)
		}
		d, ok := parseDate(v.text)
		if !ok {
			return value{}, false, nil, errAt(p.q, v.pos, CodeMalformedQuery, "invalid date: "+v.text)
		}
		return value{sec: d}, false, nil, nil
	case tDateTime:
		if cl != clsDateTime {
			return value{}, false, nil, p.typeError(v, lhs, name)
		}
		t, ok := parseDateTime(v.text)
		if !ok {
			return value{}, false, nil, errAt(p.q, v.pos, CodeMalformedQuery, "invalid datetime: "+v.text)
		}
		return instant(t), false, nil, nil
	case tIdent:
		kw := strings.ToUpper(v.text)
		if kw == "TRUE" || kw == "FALSE" {
			if cl != clsBool {
				return value{}, false, nil, p.typeError(v, lhs, name)
			}
			return value{b: kw == "TRUE"}, false, nil, nil
		}
		if rng, ok, err := p.parseDateLiteral(v); ok || err != nil {
			if err != nil {
				return value{}, false, nil, err
			}
			if cl != clsDate && cl != clsDateTime {
				return value{}, false, nil, p.typeError(v, lhs, name)
			}
			if !ranges {
				return value{}, false, nil, errAt(p.q, v.pos, CodeMalformedQuery, "date literal "+strings.ToUpper(v.text)+" is not supported in an IN list")
			}
			return value{}, false, rng, nil
		}
	}
	return value{}, false, nil, p.unexpected(v)
}

// parseDateLiteral recognises TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n and
// NEXT_N_DAYS:n (v already consumed). ok is false when v is none of them.
func (p *parser) parseDateLiteral(v token) (*dateRange, bool, *Error) {
	switch strings.ToUpper(v.text) {
	case "TODAY":
		return &dateRange{0, 1}, true, nil
	case "YESTERDAY":
		return &dateRange{-1, 0}, true, nil
	case "TOMORROW":
		return &dateRange{1, 2}, true, nil
	case "LAST_N_DAYS", "NEXT_N_DAYS":
	default:
		return nil, false, nil
	}
	colon := p.next()
	if colon.kind != tPunct || colon.text != ":" || colon.pos != v.end {
		return nil, true, p.unexpected(colon)
	}
	n := p.next()
	if n.kind != tNumber || n.pos != colon.end || n.text[0] == '-' || n.text[0] == '+' || strings.Contains(n.text, ".") {
		return nil, true, errAt(p.q, n.pos, CodeMalformedQuery, "expected a non-negative integer after "+strings.ToUpper(v.text)+":")
	}
	days, err := strconv.ParseInt(n.text, 10, 32)
	if err != nil {
		return nil, true, errAt(p.q, n.pos, CodeMalformedQuery, "number of days out of range: "+n.text)
	}
	if strings.EqualFold(v.text, "LAST_N_DAYS") {
		// From 00:00 n days ago through the end of today.
		return &dateRange{-days, 1}, true, nil
	}
	// From 00:00 tomorrow for n days; today excluded.
	return &dateRange{1, 1 + days}, true, nil
}

// typeError is Salesforce's message for a literal of the wrong type.
func (p *parser) typeError(v token, lhs operand, name string) *Error {
	cl := lhs.class()
	var want string
	if lhs.agg >= 0 {
		want = "integer"
	} else {
		want = cl.typeName(lhs.f.info)
	}
	quotes := "should not be enclosed in quotes"
	if cl == clsString {
		quotes = "should be enclosed in quotes"
	}
	return errAt(p.q, v.pos, CodeMalformedQuery,
		"value of filter criterion for field '"+name+"' must be of type "+want+" and "+quotes)
}

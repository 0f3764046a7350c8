package formula

import (
	"slices"
	"strings"
)

// maxDepth bounds nesting (parentheses, calls, unary operators), so that a
// hostile formula cannot exhaust the stack.
const maxDepth = 100

type fieldType struct {
	name string
	t    Type
}

type parser struct {
	toks   []token
	i      int
	types  map[string]fieldType // lower-case name → field; nil = untyped
	depth  int
	fields map[string]bool
	perms  map[string]bool
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// Binary operators by precedence, loosest first. Salesforce documents the
// operators but not their precedence ("standard operator precedence"); this
// is the spreadsheet order: || below &&, below comparisons, below &, below
// + -, below * /, below unary ! - +.
var levels = [][]string{
	{"||"},
	{"&&"},
	{"=", "==", "!=", "<>", "<", "<=", ">", ">="},
	{"&"},
	{"+", "-"},
	{"*", "/"},
}

func (p *parser) expr() (node, error) { return p.binary(0) }

func (p *parser) binary(level int) (node, error) {
	if level == len(levels) {
		return p.unary()
	}
	l, err := p.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind == tOp && t.text == "^" {
			return nil, errAt(t.pos, "operator ^ (exponentiation) is not supported by the emulator")
		}
		if t.kind != tOp || !slices.Contains(levels[level], t.text) {
			return l, nil
		}
		p.next()
		r, err := p.binary(level + 1)
		if err != nil {
			return nil, err
		}
		for _, x := range []node{l, r} {
			if x.typ() == Picklist {
				return nil, errAt(t.pos, "Field %s is a picklist field. Picklist fields are only supported in certain functions (ISPICKVAL, TEXT, ISCHANGED, PRIORVALUE)",
					picklistName(x))
			}
		}
		typ, msg := opType(t.text, l.typ(), r.typ())
		if msg != "" {
			return nil, errAt(t.pos, "%s", msg)
		}
		l = &binaryNode{op: t.text, l: l, r: r, t: typ, pos: t.pos}
	}
}

func picklistName(x node) string {
	if f := picklistField(x); f != nil {
		return f.name
	}
	return "this"
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > maxDepth {
		return errAt(pos, "formula is nested more than %d levels deep", maxDepth)
	}
	return nil
}

func (p *parser) unary() (node, error) {
	t := p.peek()
	if t.kind != tOp || t.text != "!" && t.text != "-" && t.text != "+" {
		return p.primary()
	}
	p.next()
	if err := p.enter(t.pos); err != nil {
		return nil, err
	}
	x, err := p.unary()
	p.depth--
	if err != nil {
		return nil, err
	}
	if x.typ() == Picklist {
		return nil, errAt(t.pos, "Field %s is a picklist field. Picklist fields are only supported in certain functions (ISPICKVAL, TEXT, ISCHANGED, PRIORVALUE)", picklistName(x))
	}
	if msg := unaryCheck(t.text, x.typ()); msg != "" {
		return nil, errAt(t.pos, "%s", msg)
	}
	typ := Number
	if t.text == "!" {
		typ = Boolean
	}
	return &unaryNode{op: t.text, x: x, t: typ, pos: t.pos}, nil
}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tNum:
		return &litNode{v: numValue(t.num)}, nil
	case tStr:
		return &litNode{v: textValue(t.text)}, nil
	case tIdent:
		if p.peek().kind == tLParen {
			return p.call(t)
		}
		switch strings.ToUpper(t.text) {
		case "TRUE":
			return &litNode{v: boolValue(true)}, nil
		case "FALSE":
			return &litNode{v: boolValue(false)}, nil
		case "NULL":
			return &litNode{v: nullOf(Unknown)}, nil
		}
		return p.field(t)
	case tGlobal:
		return p.global(t)
	case tLParen:
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		x, err := p.expr()
		p.depth--
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, errAt(c.pos, "expected ) but found %s", c)
		}
		return x, nil
	}
	return nil, errAt(t.pos, "unexpected %s", t)
}

func (p *parser) field(t token) (node, error) {
	if strings.Contains(t.text, ".") {
		return nil, errAt(t.pos, "cross-object reference %s is not supported by the emulator", t.text)
	}
	f := fieldType{name: t.text, t: Unknown}
	if p.types != nil {
		var ok bool
		if f, ok = p.types[strings.ToLower(t.text)]; !ok {
			return nil, errAt(t.pos, "Field %s does not exist. Check spelling.", t.text)
		}
	}
	p.fields[f.name] = true
	return &fieldNode{name: f.name, t: f.t, pos: t.pos}, nil
}

func (p *parser) global(t token) (node, error) {
	kind, name, _ := strings.Cut(t.text, ".")
	switch {
	case strings.EqualFold(kind, "Permission") && name != "" && !strings.Contains(name, "."):
		p.perms[name] = true
		return &permNode{name: name}, nil
	case strings.EqualFold(kind, "User") && strings.EqualFold(name, "Username"):
		return usernameNode{}, nil
	}
	return nil, errAt(t.pos, "global variable $%s is not supported by the emulator (it knows $Permission.<name> and $User.Username)", t.text)
}

func (p *parser) call(name token) (node, error) {
	if strings.Contains(name.text, ".") {
		return nil, errAt(name.pos, "unexpected %s", name.text)
	}
	upper := strings.ToUpper(name.text)
	fn := functions[upper]
	if fn == nil {
		if unsupported[upper] {
			return nil, errAt(name.pos, "function %s is not supported by the emulator", name.text)
		}
		return nil, errAt(name.pos, "Unknown function %s. Check spelling.", name.text)
	}
	if err := p.enter(name.pos); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.next() // (
	n := &callNode{fn: fn, name: name.text, pos: name.pos}
	if p.peek().kind != tRParen {
		for {
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			n.args = append(n.args, a)
			if p.peek().kind != tComma {
				break
			}
			p.next()
		}
	}
	if c := p.next(); c.kind != tRParen {
		return nil, errAt(c.pos, "expected , or ) in %s() but found %s", fn.name, c)
	}
	if len(n.args) < fn.min || fn.max >= 0 && len(n.args) > fn.max {
		want := fn.min
		if fn.max < 0 {
			return nil, errAt(n.pos, "Incorrect number of parameters for function '%s()'. Expected at least %d, received %d", fn.name, want, len(n.args))
		}
		if len(n.args) > fn.max {
			want = fn.max
		}
		return nil, errAt(n.pos, "Incorrect number of parameters for function '%s()'. Expected %d, received %d", fn.name, want, len(n.args))
	}
	if err := fn.check(n); err != nil {
		return nil, err
	}
	return n, nil
}

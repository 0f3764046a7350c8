package formula

import "fmt"

// node is a compiled expression with its static type.
type node interface {
	typ() Type
	eval(c evalCtx) (value, error)
}

// evalCtx is passed by value: a pointer would escape (node.eval is an
// interface call) and cost an allocation per Eval.
type evalCtx struct{ env Env }

type litNode struct{ v value }

func (n *litNode) typ() Type                   { return n.v.t }
func (n *litNode) eval(evalCtx) (value, error) { return n.v, nil }

// fieldNode is a field reference; name is the FieldTypes spelling.
type fieldNode struct {
	name string
	t    Type
	pos  int
}

func (n *fieldNode) typ() Type { return n.t }
func (n *fieldNode) eval(c evalCtx) (value, error) {
	return n.convert(c.env.Value(n.name))
}

func (n *fieldNode) prior(c evalCtx) (value, error) {
	if c.env.IsNew() {
		// PRIORVALUE: "When users create a record, this function returns the
		// value of the field referenced rather than null" (Salesforce Help,
		// PRIORVALUE).
		return n.eval(c)
	}
	return n.convert(c.env.Prior(n.name))
}

func (n *fieldNode) convert(v any) (value, error) {
	x, err := fromEnv(n.name, v, n.t)
	if err != nil {
		return value{}, errAt(n.pos, "%s", err.Msg)
	}
	return x, nil
}

type permNode struct{ name string }

func (n *permNode) typ() Type { return Boolean }
func (n *permNode) eval(c evalCtx) (value, error) {
	return boolValue(c.env.HasPermission(n.name)), nil
}

type usernameNode struct{}

func (usernameNode) typ() Type                     { return Text }
func (usernameNode) eval(c evalCtx) (value, error) { return textValue(c.env.Username()), nil }

type unaryNode struct {
	op  string // "!", "-", "+"
	x   node
	t   Type
	pos int
}

func (n *unaryNode) typ() Type { return n.t }
func (n *unaryNode) eval(c evalCtx) (value, error) {
	v, err := n.x.eval(c)
	if err != nil {
		return value{}, err
	}
	if msg := unaryCheck(n.op, v.t); msg != "" {
		return value{}, errAt(n.pos, "%s", msg)
	}
	if n.op == "!" {
		if v.null {
			return nullOf(Boolean), nil
		}
		return boolValue(!v.b), nil
	}
	if v.null {
		return nullOf(Number), nil
	}
	if n.op == "-" {
		return numValue(-v.n), nil
	}
	return v, nil
}

// unaryCheck is the type rule of a unary operator ("" = allowed).
func unaryCheck(op string, t Type) string {
	want := Number
	if op == "!" {
		want = Boolean
	}
	if t != Unknown && t != want {
		return paramErr(op, want.String(), t)
	}
	return ""
}

type binaryNode struct {
	op   string
	l, r node
	t    Type
	pos  int
}

func (n *binaryNode) typ() Type { return n.t }

func paramErr(op, want string, got Type) string {
	return fmt.Sprintf("Incorrect parameter type for operator '%s'. Expected %s, received %s", op, want, got)
}

// opType is the type rule of a binary operator: the result type of operands
// of types l and r, or why they are refused. Unknown matches any type.
func opType(op string, l, r Type) (Type, string) {
	both := [2]Type{l, r}
	numeric := func() string {
		for _, t := range both {
			switch t {
			case Unknown, Number:
			case Date, DateTime:
				return fmt.Sprintf("operator '%s' on a %s: date arithmetic is not supported by the emulator", op, t)
			default:
				return paramErr(op, "Number", t)
			}
		}
		return ""
	}
	switch op {
	case "&&", "||", "&":
		want := Boolean
		if op == "&" {
			want = Text
		}
		for _, t := range both {
			if t != Unknown && t != want {
				return 0, paramErr(op, want.String(), t)
			}
		}
		return want, ""
	case "+":
		if l == Text || r == Text {
			// "& and + (Concatenate)": + joins two texts.
			for _, t := range both {
				if t != Unknown && t != Text {
					return 0, paramErr(op, "Text", t)
				}
			}
			return Text, ""
		}
		if msg := numeric(); msg != "" {
			return 0, msg
		}
		if l == Unknown && r == Unknown {
			return Unknown, ""
		}
		return Number, ""
	case "-", "*", "/":
		if msg := numeric(); msg != "" {
			return 0, msg
		}
		return Number, ""
	case "=", "==", "!=", "<>":
		if l != Unknown && r != Unknown && l != r {
			return 0, paramErr(op, l.String(), r)
		}
		return Boolean, ""
	case "<", "<=", ">", ">=":
		// Ordering texts is refused: Salesforce's comparison operators
		// take numbers, dates and times. (Not confirmed in the pages found;
		// refusing is the conservative choice.)
		for _, t := range both {
			switch t {
			case Unknown, Number, Date, DateTime:
			default:
				return 0, paramErr(op, "Number, Date, DateTime", t)
			}
		}
		if l != Unknown && r != Unknown && l != r {
			return 0, paramErr(op, l.String(), r)
		}
		return Boolean, ""
	}
	return 0, fmt.Sprintf("operator %s is not supported", op)
}

func (n *binaryNode) eval(c evalCtx) (value, error) {
	l, err := n.l.eval(c)
	if err != nil {
		return value{}, err
	}
	if n.op == "&&" || n.op == "||" {
		return n.logic(c, l)
	}
	r, err := n.r.eval(c)
	if err != nil {
		return value{}, err
	}
	if n.op == "&" || l.isTextual() || r.isTextual() {
		l, r = l.asText(), r.asText()
	}
	t, msg := opType(n.op, l.t, r.t)
	if msg != "" {
		return value{}, errAt(n.pos, "%s", msg)
	}
	switch n.op {
	case "&":
		return textValue(l.s + r.s), nil
	case "+", "-", "*", "/":
		if t == Text {
			return textValue(l.s + r.s), nil
		}
		if l.null || r.null {
			return nullOf(Number), nil
		}
		switch n.op {
		case "+":
			return numValue(l.n + r.n), nil
		case "-":
			return numValue(l.n - r.n), nil
		case "*":
			return numValue(l.n * r.n), nil
		}
		if r.n == 0 {
			return value{}, errAt(n.pos, "division by zero")
		}
		return numValue(l.n / r.n), nil
	}
	if l.null || r.null {
		return nullOf(Boolean), nil
	}
	cmp := compare(l, r)
	switch n.op {
	case "=", "==":
		return boolValue(cmp == 0), nil
	case "!=", "<>":
		return boolValue(cmp != 0), nil
	case "<":
		return boolValue(cmp < 0), nil
	case "<=":
		return boolValue(cmp <= 0), nil
	case ">":
		return boolValue(cmp > 0), nil
	}
	return boolValue(cmp >= 0), nil
}

// logic is && and || in three-valued logic; the right side is not
// evaluated when the left decides.
func (n *binaryNode) logic(c evalCtx, l value) (value, error) {
	if msg := unaryCheck("!", l.t); msg != "" {
		return value{}, errAt(n.pos, "%s", paramErr(n.op, "Boolean", l.t))
	}
	decides := n.op == "||" // true decides ||, false decides &&
	if !l.null && l.b == decides {
		return l, nil
	}
	r, err := n.r.eval(c)
	if err != nil {
		return value{}, err
	}
	if r.t != Unknown && r.t != Boolean {
		return value{}, errAt(n.pos, "%s", paramErr(n.op, "Boolean", r.t))
	}
	if !r.null && r.b == decides {
		return r, nil
	}
	if l.null || r.null {
		return nullOf(Boolean), nil
	}
	return boolValue(!decides), nil
}

package formula

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// callNode is a function call.
type callNode struct {
	fn   *function
	name string // as written
	args []node
	t    Type
	pos  int
	re   *regexp.Regexp // REGEX with a literal pattern, compiled once
}

func (n *callNode) typ() Type                     { return n.t }
func (n *callNode) eval(c evalCtx) (value, error) { return n.fn.eval(c, n) }

// function is one supported function: its arity, its type rule (which sets
// n.t) and its evaluation.
type function struct {
	name     string
	min, max int // max < 0: any number
	check    func(n *callNode) error
	eval     func(c evalCtx, n *callNode) (value, error)
}

var functions map[string]*function

func init() {
	functions = map[string]*function{}
	for _, f := range []*function{
		{"AND", 1, -1, checkAll(Boolean, Boolean), evalLogic(false)},
		{"OR", 1, -1, checkAll(Boolean, Boolean), evalLogic(true)},
		{"NOT", 1, 1, checkAll(Boolean, Boolean), evalNot},
		{"IF", 3, 3, checkIf, evalIf},
		{"ISBLANK", 1, 1, checkBlank, evalBlank(false)},
		{"ISNULL", 1, 1, checkBlank, evalBlank(true)},
		{"ISNEW", 0, 0, checkAll(Unknown, Boolean), evalIsNew},
		{"ISCHANGED", 1, 1, checkFieldArg(false), evalIsChanged},
		{"PRIORVALUE", 1, 1, checkFieldArg(true), evalPriorValue},
		{"TEXT", 1, 1, checkText, evalText},
		{"VALUE", 1, 1, checkAll(Text, Number), evalValue},
		{"LEN", 1, 1, checkAll(Text, Number), evalLen},
		{"BEGINS", 2, 2, checkAll(Text, Boolean), evalBegins},
		{"CONTAINS", 2, 2, checkAll(Text, Boolean), evalContains},
		{"REGEX", 2, 2, checkRegex, evalRegex},
		{"ISPICKVAL", 2, 2, checkIsPickval, evalIsPickval},
	} {
		functions[f.name] = f
	}
}

// unsupported are Salesforce functions the emulator knows by name but does
// not evaluate; they get a clearer refusal than an unknown name.
var unsupported = map[string]bool{
	"ABS": true, "ADDMONTHS": true, "BLANKVALUE": true, "CASE": true, "CASESAFEID": true, "CEILING": true,
	"DATE": true, "DATETIMEVALUE": true, "DATEVALUE": true, "DAY": true, "EXP": true, "FIND": true, "FLOOR": true,
	"GETRECORDIDS": true, "HOUR": true, "HYPERLINK": true, "IMAGE": true, "INCLUDES": true, "ISCLONE": true,
	"ISNUMBER": true, "LEFT": true, "LN": true, "LOG": true, "LOWER": true, "LPAD": true, "MAX": true, "MID": true,
	"MIN": true, "MINUTE": true, "MOD": true, "MONTH": true, "NOW": true, "NULLVALUE": true, "RIGHT": true,
	"ROUND": true, "RPAD": true, "SECOND": true, "SQRT": true, "SUBSTITUTE": true, "TIMEVALUE": true,
	"TODAY": true, "TRIM": true, "UPPER": true, "VLOOKUP": true, "WEEKDAY": true, "YEAR": true,
}

func (n *callNode) paramErr(want string, got Type) error {
	return errAt(n.pos, "Incorrect parameter type for function '%s()'. Expected %s, received %s", n.fn.name, want, got)
}

// want checks a runtime argument value against the type a function takes.
func (n *callNode) want(v value, t Type) error {
	if v.t != Unknown && v.t != t {
		return n.paramErr(t.String(), v.t)
	}
	return nil
}

// checkAll: every argument is of type arg (Unknown: no arguments); the
// result is of type result.
func checkAll(arg, result Type) func(*callNode) error {
	return func(n *callNode) error {
		for _, a := range n.args {
			if t := a.typ(); t != Unknown && t != arg {
				if t == Picklist {
					return picklistErr(n, a)
				}
				return n.paramErr(arg.String(), t)
			}
		}
		n.t = result
		return nil
	}
}

// picklistErr is Salesforce's refusal of a picklist outside the functions
// that take one.
func picklistErr(n *callNode, a node) error {
	name := "this"
	if f := picklistField(a); f != nil {
		name = f.name
	}
	return errAt(n.pos, "Field %s is a picklist field. Picklist fields are only supported in certain functions (ISPICKVAL, TEXT, ISCHANGED, PRIORVALUE); write %s(TEXT(%s))",
		name, n.fn.name, name)
}

// picklistField is the field behind a picklist-typed expression.
func picklistField(a node) *fieldNode {
	switch x := a.(type) {
	case *fieldNode:
		return x
	case *callNode:
		if len(x.args) == 1 {
			if f, ok := x.args[0].(*fieldNode); ok {
				return f
			}
		}
	}
	return nil
}

func evalLogic(or bool) func(evalCtx, *callNode) (value, error) {
	return func(c evalCtx, n *callNode) (value, error) {
		sawNull := false
		for _, a := range n.args {
			v, err := a.eval(c)
			if err != nil {
				return value{}, err
			}
			if err := n.want(v, Boolean); err != nil {
				return value{}, err
			}
			switch {
			case v.null:
				sawNull = true
			case v.b == or:
				return v, nil
			}
		}
		if sawNull {
			return nullOf(Boolean), nil
		}
		return boolValue(!or), nil
	}
}

func evalNot(c evalCtx, n *callNode) (value, error) {
	v, err := n.args[0].eval(c)
	if err != nil {
		return value{}, err
	}
	if err := n.want(v, Boolean); err != nil {
		return value{}, err
	}
	if v.null {
		return nullOf(Boolean), nil
	}
	return boolValue(!v.b), nil
}

func checkIf(n *callNode) error {
	if t := n.args[0].typ(); t != Unknown && t != Boolean {
		return n.paramErr("Boolean", t)
	}
	a, b := n.args[1].typ(), n.args[2].typ()
	for _, x := range n.args[1:] {
		if x.typ() == Picklist {
			return picklistErr(n, x)
		}
	}
	switch {
	case a == Unknown:
		n.t = b
	case b == Unknown || a == b:
		n.t = a
	default:
		return n.paramErr(a.String(), b)
	}
	return nil
}

// evalIf: a null condition makes the result null. Salesforce's handling of
// a blank condition in IF could not be confirmed; null (the rule does not
// fire on an unknown) is the conservative choice.
func evalIf(c evalCtx, n *callNode) (value, error) {
	cond, err := n.args[0].eval(c)
	if err != nil {
		return value{}, err
	}
	if err := n.want(cond, Boolean); err != nil {
		return value{}, err
	}
	switch {
	case cond.null:
		return nullOf(n.t), nil
	case cond.b:
		return n.args[1].eval(c)
	}
	return n.args[2].eval(c)
}

func checkBlank(n *callNode) error {
	if n.args[0].typ() == Picklist {
		return picklistErr(n, n.args[0])
	}
	n.t = Boolean
	return nil
}

// evalBlank is ISBLANK, or ISNULL when null is set: "Text fields are never
// null, so using this function with a text field always returns false"
// (Salesforce Help, ISNULL). A number 0 is not blank.
func evalBlank(null bool) func(evalCtx, *callNode) (value, error) {
	return func(c evalCtx, n *callNode) (value, error) {
		v, err := n.args[0].eval(c)
		if err != nil {
			return value{}, err
		}
		if v.isTextual() {
			return boolValue(!null && v.s == ""), nil
		}
		return boolValue(v.null), nil
	}
}

func evalIsNew(c evalCtx, _ *callNode) (value, error) { return boolValue(c.env.IsNew()), nil }

// checkFieldArg: ISCHANGED and PRIORVALUE take a field, of any type.
func checkFieldArg(prior bool) func(*callNode) error {
	return func(n *callNode) error {
		f, ok := n.args[0].(*fieldNode)
		if !ok {
			return errAt(n.pos, "%s() takes a field, not an expression", n.fn.name)
		}
		n.t = Boolean
		if prior {
			n.t = f.t
		}
		return nil
	}
}

// evalIsChanged: "This function returns FALSE when evaluating any field on a
// newly created record" (Salesforce Help, ISCHANGED).
func evalIsChanged(c evalCtx, n *callNode) (value, error) {
	if c.env.IsNew() {
		return boolValue(false), nil
	}
	f := n.args[0].(*fieldNode)
	cur, err := f.eval(c)
	if err != nil {
		return value{}, err
	}
	old, err := f.prior(c)
	if err != nil {
		return value{}, err
	}
	return boolValue(!same(old, cur)), nil
}

func evalPriorValue(c evalCtx, n *callNode) (value, error) {
	return n.args[0].(*fieldNode).prior(c)
}

func checkText(n *callNode) error {
	switch t := n.args[0].typ(); t {
	case Unknown, Number, Picklist, Date, DateTime:
	default:
		return n.paramErr("Number, Date, DateTime, Picklist", t)
	}
	n.t = Text
	return nil
}

// evalText: a blank number is "" (blank text). With unknown field types a
// text value passes through, since it may be a picklist.
func evalText(c evalCtx, n *callNode) (value, error) {
	v, err := n.args[0].eval(c)
	if err != nil {
		return value{}, err
	}
	switch {
	case v.null:
		return textValue(""), nil
	case v.t == Number:
		return textValue(formatNumber(v.n)), nil
	case v.t == DateTime:
		// TEXT(date/time) is "YYYY-MM-DD HH:MM:SSZ" in GMT.
		if t, ok := parseTime(v.s); ok {
			return textValue(t.UTC().Format("2006-01-02 15:04:05Z")), nil
		}
		return textValue(v.s), nil
	case v.t == Boolean:
		return value{}, n.paramErr("Number, Date, DateTime, Picklist", Boolean)
	}
	return textValue(v.s), nil
}

var numberText = regexp.MustCompile(`^[+-]?(\d+(\.\d*)?|\.\d+)$`)

// evalValue: VALUE of blank text is a blank number; of text that is not a
// number, an error (Salesforce shows #Error!).
func evalValue(c evalCtx, n *callNode) (value, error) {
	v, err := n.args[0].eval(c)
	if err != nil {
		return value{}, err
	}
	v = v.asText()
	if err := n.want(v, Text); err != nil {
		return value{}, err
	}
	s := strings.TrimSpace(v.s)
	if s == "" {
		return nullOf(Number), nil
	}
	if !numberText.MatchString(s) {
		return value{}, errAt(n.pos, "VALUE(): %q is not a number", v.s)
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return value{}, errAt(n.pos, "VALUE(): %q is not a number", v.s)
	}
	return numValue(x), nil
}

// texts evaluates the arguments of a function on texts.
func (n *callNode) texts(c evalCtx) ([]string, error) {
	out := make([]string, len(n.args))
	for i, a := range n.args {
		v, err := a.eval(c)
		if err != nil {
			return nil, err
		}
		v = v.asText()
		if err := n.want(v, Text); err != nil {
			return nil, err
		}
		out[i] = v.s
	}
	return out, nil
}

func evalLen(c evalCtx, n *callNode) (value, error) {
	s, err := n.texts(c)
	if err != nil {
		return value{}, err
	}
	return numValue(float64(utf8.RuneCountInString(s[0]))), nil
}

// evalBegins is case-sensitive. A blank text neither begins nor does not
// begin with anything: the result is null, so neither BEGINS(F, "3") nor
// NOT(BEGINS(F, "3")) fires on a blank F. This follows the Salesforce Help
// tip for BEGINS as remembered ("fields that are blank are considered
// valid" in validation rules); the page could not be retrieved to confirm.
func evalBegins(c evalCtx, n *callNode) (value, error) {
	s, err := n.texts(c)
	if err != nil {
		return value{}, err
	}
	if s[0] == "" {
		return nullOf(Boolean), nil
	}
	return boolValue(strings.HasPrefix(s[0], s[1])), nil
}

// evalContains is case-sensitive; blank text is "" (unconfirmed: CONTAINS
// of a blank field is FALSE, CONTAINS(F, "") is TRUE).
func evalContains(c evalCtx, n *callNode) (value, error) {
	s, err := n.texts(c)
	if err != nil {
		return value{}, err
	}
	return boolValue(strings.Contains(s[0], s[1])), nil
}

// compileRegex anchors pattern: Salesforce's REGEX matches the entire text,
// not a part of it, in Java syntax (with backslashes doubled in the
// literal). Go's RE2 accepts most of Java's syntax, not lookaround or
// backreferences.
func compileRegex(pattern string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + pattern + `)$`)
}

func checkRegex(n *callNode) error {
	if err := checkAll(Text, Boolean)(n); err != nil {
		return err
	}
	if lit, ok := n.args[1].(*litNode); ok && lit.v.t == Text {
		re, err := compileRegex(lit.v.s)
		if err != nil {
			return errAt(n.pos, "REGEX(): pattern %q is not supported by the emulator (Go RE2 syntax): %v", lit.v.s, err)
		}
		n.re = re
	}
	return nil
}

// evalRegex: blank text is matched as "": Salesforce's own sample rules
// guard blanks explicitly (LEN(F) = 0 || REGEX(F, …)) or make the pattern
// optional, which only matters if a blank is matched as "".
func evalRegex(c evalCtx, n *callNode) (value, error) {
	s, err := n.texts(c)
	if err != nil {
		return value{}, err
	}
	re := n.re
	if re == nil {
		if re, err = compileRegex(s[1]); err != nil {
			return value{}, errAt(n.pos, "REGEX(): pattern %q is not supported by the emulator (Go RE2 syntax): %v", s[1], err)
		}
	}
	return boolValue(re.MatchString(s[0])), nil
}

// checkIsPickval: ISPICKVAL(picklist_field, text_literal).
func checkIsPickval(n *callNode) error {
	switch t := n.args[0].typ(); t {
	case Unknown, Picklist:
	default:
		return n.paramErr("Picklist", t)
	}
	if lit, ok := n.args[1].(*litNode); !ok || lit.v.t != Text {
		return errAt(n.pos, "ISPICKVAL() compares with a text literal")
	}
	n.t = Boolean
	return nil
}

func evalIsPickval(c evalCtx, n *callNode) (value, error) {
	v, err := n.args[0].eval(c)
	if err != nil {
		return value{}, err
	}
	v = v.asText()
	if !v.isTextual() {
		return value{}, n.paramErr("Picklist", v.t)
	}
	return boolValue(v.s == n.args[1].(*litNode).v.s), nil
}

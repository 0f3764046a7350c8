package formula

import (
	"slices"
	"strings"
)

// Formula is a compiled validation rule condition. It is safe for
// concurrent use.
type Formula struct {
	src    string
	root   node
	fields []string
	perms  []string
}

// Compile parses a validation rule's error condition and checks it against
// the fields it may reference (nil: any field, types checked by Eval). The
// condition must be a Boolean. Errors are *Error.
func Compile(src string, fields FieldTypes) (*Formula, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, fields: map[string]bool{}, perms: map[string]bool{}}
	if fields != nil {
		p.types = make(map[string]fieldType, len(fields))
		for name, t := range fields {
			p.types[strings.ToLower(name)] = fieldType{name: name, t: t}
		}
	}
	root, err := p.expr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, errAt(t.pos, "unexpected %s", t)
	}
	if t := root.typ(); t != Boolean && t != Unknown {
		return nil, &Error{Msg: "Formula result is data type (" + t.String() + "), incompatible with expected data type (Boolean)"}
	}
	return &Formula{src: src, root: root, fields: sortedKeys(p.fields), perms: sortedKeys(p.perms)}, nil
}

// Eval evaluates the condition for a record: true means the rule fires. A
// null (blank) result does not fire. Errors are *Error.
func (f *Formula) Eval(env Env) (bool, error) {
	if env == nil {
		env = blankEnv{}
	}
	v, err := f.root.eval(evalCtx{env: env})
	if err != nil {
		return false, err
	}
	if v.null {
		return false, nil
	}
	if v.t != Boolean {
		return false, &Error{Msg: "Formula result is data type (" + v.t.String() + "), incompatible with expected data type (Boolean)"}
	}
	return v.b, nil
}

// String returns the formula's source.
func (f *Formula) String() string { return f.src }

// Fields returns the fields the formula references, sorted.
func (f *Formula) Fields() []string { return slices.Clone(f.fields) }

// Permissions returns the custom permissions the formula tests
// ($Permission.Name), sorted.
func (f *Formula) Permissions() []string { return slices.Clone(f.perms) }

// Refs are the names a formula mentions.
type Refs struct {
	Fields      []string // as written, relationship paths included (Account.Name)
	Permissions []string // custom permissions, from $Permission.Name
	Functions   []string // upper case
}

// References lists what a formula mentions, sorted, from its tokens alone:
// it accepts every Salesforce function and field, evaluated here or not,
// and fails only on what no formula may contain (an unterminated text
// literal or comment, a stray character). Metadata checks use it where
// Compile would refuse functions the emulator does not evaluate.
func References(src string) (Refs, error) {
	toks, err := lex(src)
	if err != nil {
		return Refs{}, err
	}
	fields, perms, funcs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, t := range toks {
		switch t.kind {
		case tIdent:
			switch {
			case toks[i+1].kind == tLParen:
				funcs[strings.ToUpper(t.text)] = true
			case strings.EqualFold(t.text, "TRUE"), strings.EqualFold(t.text, "FALSE"), strings.EqualFold(t.text, "NULL"):
			default:
				fields[t.text] = true
			}
		case tGlobal:
			if kind, name, ok := strings.Cut(t.text, "."); ok && strings.EqualFold(kind, "Permission") {
				perms[name] = true
			}
		}
	}
	return Refs{Fields: sortedKeys(fields), Permissions: sortedKeys(perms), Functions: sortedKeys(funcs)}, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// blankEnv is a new record with every field blank and no permissions.
type blankEnv struct{}

func (blankEnv) Value(string) any          { return nil }
func (blankEnv) Prior(string) any          { return nil }
func (blankEnv) IsNew() bool               { return true }
func (blankEnv) HasPermission(string) bool { return false }
func (blankEnv) Username() string          { return "" }

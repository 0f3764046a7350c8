package sfsim

import (
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/contactsync/contactsync/pkg/sfsim/formula"
)

// sfTime is Salesforce's datetime format.
const sfTime = "2006-01-02T15:04:05.000-0700"

// writeOpts say who writes and how.
type writeOpts struct {
	integration bool // the session holds the integration custom permission
	allowSave   bool // Sforce-Duplicate-Rule-Header allowSave=true
	details     bool // includeRecordDetails=true
	seed        bool // Server.Insert: no duplicate rules, uniqueness or validation rules
	editByID    bool // an update addressed by record Id
	version     int  // API major version, for URLs
	now         time.Time
	userID      string
	// nowVal and userVal are now (as sfTime) and userID as interface
	// values, made once per request by stamps.
	nowVal, userVal any
}

// stamps returns the audit field values of this request's writes: every
// record shares one formatted time and one interface value of each,
// rather than formatting and boxing them per record.
func (w *writeOpts) stamps() (now, user any) {
	if w.nowVal == nil {
		w.nowVal = w.now.UTC().Format(sfTime)
		w.userVal = w.userID
	}
	return w.nowVal, w.userVal
}

// validEmail is deliberately permissive (the full RFC local part and
// non-Latin characters are allowed, §9.2): a local part not starting with
// a dot, one @, and a dotted domain. It is the regexp
// ^[^\s@.][^\s@]*@[^\s@.]+(\.[^\s@.]+)+$ (emailRE in the tests, which
// compare the two), hand-run: no RE2 whitespace ([\t\n\f\r ]), exactly one
// @, a local part not starting with '.', and a domain of two or more
// non-empty dot-separated labels. Every byte the pattern names is ASCII,
// so matching bytes rather than runes gives the same answer (an invalid
// UTF-8 byte is U+FFFD to the regexp, "other" here).
func validEmail(s string) bool {
	at := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\t', '\n', '\f', '\r', ' ':
			return false
		case '@':
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	if at <= 0 || s[0] == '.' {
		return false
	}
	labels, start := 0, at+1
	for i := start; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if i == start {
				return false
			}
			labels++
			start = i + 1
		}
	}
	return labels >= 2
}

func valueString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "START_OBJECT"
	case []any:
		return "START_ARRAY"
	case string:
		return "VALUE_STRING"
	case bool:
		return "VALUE_TRUE"
	case float64:
		return "VALUE_NUMBER_FLOAT"
	}
	return "VALUE_NULL"
}

func errDeserialize(typ string, v any) *apiError {
	return errJSON(fmt.Sprintf("Cannot deserialize instance of %s from %s value %s or request may be missing a required field at [line:1, column:1]", typ, jsonKind(v), valueString(v)))
}

// convertValue turns a JSON value into the stored form of field f.
// Errors are request-level (JSON_PARSER_ERROR) except a malformed
// reference, which fails only its record.
func convertValue(f *fieldInfo, v any) (any, *apiError) {
	if v == nil {
		if f.Type == "boolean" {
			return false, nil
		}
		return nil, nil
	}
	switch f.Type {
	case "string", "email", "textarea", "phone", "url", "picklist":
		var s string
		isStr := false
		switch x := v.(type) {
		case string:
			s, isStr = x, true
		case float64, bool:
			s = valueString(x)
		default:
			return nil, errDeserialize("string", v)
		}
		if s == "" {
			return nil, nil
		}
		switch f.Type {
		case "email":
			s = strings.ToLower(strings.TrimSpace(s))
		case "picklist":
			if c, ok := f.picklist[strings.ToLower(s)]; ok {
				s = c
			}
		}
		if isStr && s == v.(string) {
			return v, nil // unchanged: no new interface value
		}
		return s, nil
	case "boolean":
		switch x := v.(type) {
		case bool:
			return v, nil
		case string:
			if b, err := strconv.ParseBool(x); err == nil {
				return b, nil
			}
		}
		return nil, errDeserialize("boolean", v)
	case "double", "int", "currency", "percent":
		switch x := v.(type) {
		case float64:
			if f.Type == "int" {
				return float64(int64(x)), nil
			}
			return v, nil
		case string:
			if x == "" {
				return nil, nil
			}
			if n, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return n, nil
			}
		}
		return nil, errDeserialize("double", v)
	case "date":
		if s, ok := v.(string); ok {
			if s == "" {
				return nil, nil
			}
			if len(s) >= 10 {
				if t, err := time.Parse("2006-01-02", s[:10]); err == nil {
					return t.Format("2006-01-02"), nil
				}
			}
		}
		return nil, errDeserialize("date", v)
	case "datetime":
		if s, ok := v.(string); ok {
			if s == "" {
				return nil, nil
			}
			if t, ok := parseDateTime(s); ok {
				return t.UTC().Format(sfTime), nil
			}
		}
		return nil, errDeserialize("datetime", v)
	case "reference", "id":
		s, ok := v.(string)
		if !ok {
			return nil, errDeserialize("id", v)
		}
		if s == "" {
			return nil, nil
		}
		id := To18(s)
		if id == "" {
			e := errMalformedID(f.Label, s, f.Name)
			return nil, e
		}
		return id, nil
	}
	return v, nil
}

var dateTimeLayouts = []string{time.RFC3339Nano, sfTime, "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02"}

func parseDateTime(s string) (time.Time, bool) {
	for _, l := range dateTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// convert maps a JSON record body onto o's fields (canonical names, stored
// value types). "attributes" is skipped. A returned error with request set
// fails the whole request (unknown field, undecodable value); others fail
// only this record (read-only field, malformed Id).
func (o *objectInfo) convert(raw map[string]any) (map[string]any, *apiError) {
	vals := make(map[string]any, len(raw))
	var recErr *apiError
	var unknown []string
	for k, v := range raw {
		if k == "attributes" {
			continue
		}
		f := o.field(k)
		if f == nil {
			unknown = append(unknown, k)
			continue
		}
		if f.ReadOnly {
			if recErr == nil || f.Name < recErr.fields[0] {
				recErr = errReadOnly(f.Name)
			}
			continue
		}
		cv, err := convertValue(f, v)
		if err != nil {
			if err.request {
				return nil, err
			}
			if recErr == nil {
				recErr = err
			}
			continue
		}
		vals[f.Name] = cv
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, errNoSuchColumn(unknown[0], o.name)
	}
	if recErr != nil {
		return vals, recErr
	}
	return vals, nil
}

// convertOwned is convert for a record map the caller owns and does not
// use afterwards (a decoded collections record): when every key is a
// canonical field name (or "attributes") the values are converted in
// place and raw is returned as vals, instead of a copy. The result is
// convert's.
func (o *objectInfo) convertOwned(raw map[string]any) (map[string]any, *apiError) {
	type entry struct {
		k string
		v any
		f *fieldInfo
	}
	var buf [32]entry
	es := buf[:0]
	for k, v := range raw {
		if k == "attributes" {
			continue
		}
		f := o.byName[k]
		if f == nil {
			return o.convert(raw)
		}
		es = append(es, entry{k, v, f})
	}
	delete(raw, "attributes")
	var recErr *apiError
	for _, e := range es {
		if e.f.ReadOnly {
			if recErr == nil || e.f.Name < recErr.fields[0] {
				recErr = errReadOnly(e.f.Name)
			}
			delete(raw, e.k)
			continue
		}
		cv, err := convertValue(e.f, e.v)
		if err != nil {
			if err.request {
				return nil, err
			}
			if recErr == nil {
				recErr = err
			}
			delete(raw, e.k)
			continue
		}
		if !sameScalar(cv, e.v) {
			raw[e.k] = cv
		}
	}
	if recErr != nil {
		return raw, recErr
	}
	return raw, nil
}

// sameScalar reports whether a and b are the same string, float64 (bit
// for bit) or bool: a converted value that needs no writing back.
func sameScalar(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	return false
}

// build returns the full field map of a record after applying vals to old
// (nil = a new record with Id id).
func (o *objectInfo) build(old map[string]any, id string, vals map[string]any, w *writeOpts) map[string]any {
	// maps.Clone copies a map's table as is, far cheaper than inserting
	// each field again.
	var f map[string]any
	now, user := w.stamps()
	if old == nil {
		f = maps.Clone(o.blank)
		f["Id"] = id
		f["IsDeleted"] = false
		f["CreatedDate"] = now
		f["CreatedById"] = user
	} else {
		f = maps.Clone(old)
	}
	for k, v := range vals {
		f[k] = v
	}
	// Name is FirstName + " " + LastName, and only here written (vals
	// never holds it: it is read-only), so an edit that keeps both keeps
	// the old record's Name as cloned.
	if _, named := vals["Name"]; o.computedName && (old == nil || named ||
		!sameString(old["FirstName"], f["FirstName"]) || !sameString(old["LastName"], f["LastName"])) {
		first, _ := f["FirstName"].(string)
		last, _ := f["LastName"].(string)
		name := strings.TrimSpace(first + " " + last)
		if name == "" {
			f["Name"] = nil
		} else {
			f["Name"] = name
		}
	}
	f["LastModifiedDate"] = now
	f["LastModifiedById"] = user
	f["SystemModstamp"] = now
	return f
}

// validate checks a record's new state in Salesforce's order: required
// fields, then each written field (length, email, picklist), then the
// validation rules.
func (o *objectInfo) validate(old, f, vals map[string]any, w *writeOpts) *apiError {
	var missing []string
	for _, fi := range o.required {
		if f[fi.Name] == nil {
			missing = append(missing, fi.Name)
		}
	}
	if len(missing) > 0 {
		return newErr(http.StatusBadRequest, "REQUIRED_FIELD_MISSING",
			"Required fields are missing: ["+strings.Join(missing, ", ")+"]", missing...)
	}
	for _, fi := range o.texts {
		v, ok := vals[fi.Name]
		if !ok || v == nil {
			continue
		}
		s, isStr := v.(string)
		if !isStr {
			continue
		}
		if fi.Length > 0 && len(s) > fi.Length && utf8.RuneCountInString(s) > fi.Length {
			return newErr(http.StatusBadRequest, "STRING_TOO_LONG",
				fmt.Sprintf("%s: data value too large: %s (max length=%d)", fi.Label, s, fi.Length), fi.Name)
		}
		if fi.Type == "email" && !validEmail(s) {
			return newErr(http.StatusBadRequest, "INVALID_EMAIL_ADDRESS",
				fmt.Sprintf("%s: invalid email address: %s", fi.Label, s), fi.Name)
		}
		if fi.Type == "picklist" && fi.Restricted {
			if _, ok := fi.picklist[strings.ToLower(s)]; !ok {
				return newErr(http.StatusBadRequest, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
					fmt.Sprintf("%s: bad value for restricted picklist field: %s", fi.Label, s), fi.Name)
			}
		}
	}
	if !w.seed && len(o.valRules) > 0 {
		var env formula.Env = ruleEnv{old: old, cur: f, w: w} // boxed once, not per rule
		for _, vr := range o.valRules {
			fires, err := vr.cond.Eval(env)
			if err != nil {
				// Compile checked the types against the schema, so this is
				// a division by zero, VALUE of a non-number or the like.
				// The write is refused, permanently, naming the rule.
				return &apiError{status: http.StatusBadRequest, code: "FIELD_CUSTOM_VALIDATION_EXCEPTION",
					msg: fmt.Sprintf("sfsim: validation rule %s could not be evaluated: %v", vr.Name, err), fields: vr.display}
			}
			// Salesforce reports every rule that fails; the emulator
			// reports the first, in schema order.
			if fires {
				return &apiError{status: http.StatusBadRequest, code: "FIELD_CUSTOM_VALIDATION_EXCEPTION",
					msg: vr.Message, fields: vr.display}
			}
		}
	}
	return nil
}

// Username is the integration user's Username (the User that sessions of
// Config.ClientID act as; see org.go) and $User.Username in validation
// rules, whichever client writes.
const Username = "contactsync@sfsim.invalid"

// ruleEnv is a write as validation rules see it: the record before (nil on
// a create) and after.
type ruleEnv struct {
	old, cur map[string]any
	w        *writeOpts
}

func (e ruleEnv) Value(field string) any { return e.cur[field] }
func (e ruleEnv) Prior(field string) any { return e.old[field] }
func (e ruleEnv) IsNew() bool            { return e.old == nil }

// HasPermission: the integration user holds every custom permission the
// schema names (Contact_Sync_Integration in the shipped metadata); the
// RestrictedClients hold none.
func (e ruleEnv) HasPermission(string) bool { return e.w.integration }
func (e ruleEnv) Username() string          { return Username }

// checkUnique refuses a value of a unique field that another record has.
func (s *objectStore) checkUnique(self *record, old, f map[string]any) *apiError {
	for _, fi := range s.info.indexed {
		if !fi.unique {
			continue
		}
		if old != nil && sameString(old[fi.Name], f[fi.Name]) {
			continue // the key stays (or was and is "")
		}
		if valueString(f[fi.Name]) == "" || old != nil && indexKey(fi, old[fi.Name]) == indexKey(fi, f[fi.Name]) {
			continue
		}
		for _, r := range indexGet(s.idx[fi.index], fi, f[fi.Name]) {
			if r != self {
				return newErr(http.StatusBadRequest, "DUPLICATE_VALUE",
					fmt.Sprintf("duplicate value found: %s duplicates value on record with id: %s", fi.Name, r.key))
			}
		}
	}
	return nil
}

// create validates and stores a new record.
func (s *Server) create(os *objectStore, vals map[string]any, w *writeOpts, tx *txn) (*record, *apiError) {
	if os.info.system && !w.seed {
		return nil, errSystemObject(os.info, "inserted")
	}
	id := makeID(os.info.prefix, s.idSeq.Add(1))
	f := os.info.build(nil, id, vals, w)
	if os.info.nameFormat != "" {
		os.autoNumber++
		f["Name"] = formatAutoNumber(os.info.nameFormat, os.autoNumber)
	}
	if err := os.info.validate(nil, f, vals, w); err != nil {
		return nil, err
	}
	if !w.seed {
		if err := s.checkDuplicates(os, nil, nil, f, w); err != nil {
			return nil, err
		}
		if err := os.checkUnique(nil, nil, f); err != nil {
			return nil, err
		}
	}
	r := &record{id: id, key: id[:15], f: f}
	os.insert(r, tx)
	return r, nil
}

// update validates and applies vals to r.
func (s *Server) update(os *objectStore, r *record, vals map[string]any, w *writeOpts, tx *txn) *apiError {
	if os.info.system {
		return errSystemObject(os.info, "updated")
	}
	f := os.info.build(r.f, "", vals, w)
	if err := os.info.validate(r.f, f, vals, w); err != nil {
		return err
	}
	if err := s.checkDuplicates(os, r, r.f, f, w); err != nil {
		return err
	}
	if err := os.checkUnique(r, r.f, f); err != nil {
		return err
	}
	os.replace(r, f, tx)
	return nil
}

// upsertResult is the outcome of one upsert by external ID.
type upsertResult struct {
	rec     *record
	created bool
	matches []*record // > 1: multiple matches, nothing written
	err     *apiError
}

// upsert matches ext (a converted value of external ID field fi, or an Id
// when fi is Id) and creates or updates.
func (s *Server) upsert(os *objectStore, fi *fieldInfo, ext any, vals map[string]any, w *writeOpts, tx *txn) upsertResult {
	var matches []*record
	if fi.Name == "Id" {
		if r := os.byKey[idKey(valueString(ext))]; r != nil {
			matches = []*record{r}
		}
	} else if ext != nil {
		matches = os.lookup(fi, ext)
	}
	switch len(matches) {
	case 0:
		if fi.Name == "Id" {
			return upsertResult{err: errNotFound()}
		}
		if ext != nil {
			vals[fi.Name] = ext
		}
		r, err := s.create(os, vals, w, tx)
		return upsertResult{rec: r, created: err == nil, err: err}
	case 1:
		r := matches[0]
		return upsertResult{rec: r, err: s.update(os, r, vals, w, tx)}
	}
	return upsertResult{matches: slices.Clone(matches)}
}

// multipleMatchError is the collections form of a multiple match.
func multipleMatchError(fi *fieldInfo, matches []*record) *apiError {
	ids := make([]string, len(matches))
	for i, r := range matches {
		ids[i] = r.id
	}
	return newErr(http.StatusMultipleChoices, "DUPLICATE_EXTERNAL_ID",
		fmt.Sprintf("%s: more than one record found for external id field: [%s]", fi.Label, strings.Join(ids, ", ")))
}

package conflict

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Policy says how a duplicate-rule conflict is settled (DESIGN.md,
// "Duplicate conflicts and policies").
type Policy string

const (
	// Strict (the default) writes only when external ID and email agree: a
	// contact with the same email and another external ID is held for a
	// steward as an Email_Conflict.
	Strict Policy = "strict"
	// ExternalID lets the external ID win: the record is saved anyway with
	// allowSave=true and a Duplicate_Created exception is raised for review.
	ExternalID Policy = "external-id"
	// Email lets the email win: the existing contact is updated and re-keyed
	// to the incoming external ID, with a Rekeyed exception for audit.
	Email Policy = "email"
)

// ErrInvalidPolicy is returned (wrapped) for an unknown policy name.
var ErrInvalidPolicy = errors.New("invalid conflict policy")

// Policies lists the valid policies, default first.
var Policies = []Policy{Strict, ExternalID, Email}

// ParsePolicy parses a policy name; the empty string is the default, Strict.
// Names are case-insensitive and surrounding space is ignored.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(strings.ToLower(strings.TrimSpace(s))); p {
	case "":
		return Strict, nil
	case Strict, ExternalID, Email:
		return p, nil
	}
	return "", fmt.Errorf("%w %q: want strict, external-id or email", ErrInvalidPolicy, s)
}

// Valid reports whether p is one of the three policies.
func (p Policy) Valid() bool { return p == Strict || p == ExternalID || p == Email }

// EnvPolicy is the variable that selects the policy for the whole fleet.
const EnvPolicy = "SYNC_POLICY"

// EnvAdoptUnlinked turns adoption of unlinked contacts off when false.
const EnvAdoptUnlinked = "SYNC_ADOPT_UNLINKED"

// EnvVar is the per-segment override variable of segment:
// SYNC_POLICY_<SEGMENT upper-cased, '-' replaced by '_'>.
func EnvVar(segment string) string {
	return EnvPolicy + "_" + strings.ToUpper(strings.ReplaceAll(segment, "-", "_"))
}

// PolicyFor returns the policy of segment: the SYNC_POLICY_<SEGMENT> override
// read through env when set, def otherwise (Strict when def is empty). A nil
// env means os.Getenv.
func PolicyFor(segment string, def Policy, env func(string) string) (Policy, error) {
	if env == nil {
		env = os.Getenv
	}
	if v := strings.TrimSpace(env(EnvVar(segment))); v != "" {
		p, err := ParsePolicy(v)
		if err != nil {
			return "", fmt.Errorf("%s: %w", EnvVar(segment), err)
		}
		return p, nil
	}
	if def == "" {
		return Strict, nil
	}
	if !def.Valid() {
		return "", fmt.Errorf("default policy: %w %q", ErrInvalidPolicy, def)
	}
	return def, nil
}

// ConfigFromEnv builds a Resolver Config from SYNC_POLICY,
// SYNC_ADOPT_UNLINKED, SF_EXTERNAL_ID_FIELD and every SYNC_POLICY_<SEGMENT>
// in environ (os.Environ() form, "KEY=value"). Bad values fail here, at
// startup, naming the variable.
func ConfigFromEnv(environ []string) (Config, error) {
	var cfg Config
	vars := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			vars[k] = v
		}
	}
	p, err := ParsePolicy(vars[EnvPolicy])
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", EnvPolicy, err)
	}
	cfg.DefaultPolicy = p
	if v := strings.TrimSpace(vars[EnvAdoptUnlinked]); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("%s: %q is not a boolean", EnvAdoptUnlinked, v)
		}
		cfg.NoAdoptUnlinked = !b
	}
	cfg.ExternalIDField = strings.TrimSpace(vars["SF_EXTERNAL_ID_FIELD"])
	for k, v := range vars {
		seg, ok := strings.CutPrefix(k, EnvPolicy+"_")
		if !ok || seg == "" {
			continue
		}
		p, err := ParsePolicy(v)
		if err != nil {
			return cfg, fmt.Errorf("%s: %w", k, err)
		}
		if cfg.Segments == nil {
			cfg.Segments = map[string]Policy{}
		}
		// Segments are [a-z0-9_-]+; the variable cannot tell '-' from '_',
		// so the lookup normalises the segment the same way (see policyOf).
		cfg.Segments[strings.ToLower(seg)] = p
	}
	return cfg, cfg.validate()
}

// Package helptest compares the README's tables with what the binaries'
// --help really prints, for the tests of each binary (issue 10: the README
// and --help disagreed). It reads help text, never keeps its own list of
// settings or flags, so a setting or flag added to a binary and not to the
// README (or documented and never built) fails a test.
package helptest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"

	"github.com/contactsync/contactsync/pkg/cli"
)

// README returns the repository's README.md.
func README(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Section returns the README text under the heading named title (any level)
// up to the next heading of the same or a higher level.
func Section(t testing.TB, readme, title string) string {
	t.Helper()
	lines := strings.Split(readme, "\n")
	for i, l := range lines {
		level := len(l) - len(strings.TrimLeft(l, "#"))
		if level == 0 || strings.TrimSpace(l[level:]) != title {
			continue
		}
		var out []string
		inCode := false
		for _, m := range lines[i+1:] {
			if strings.HasPrefix(m, "```") {
				inCode = !inCode
			}
			if !inCode && strings.HasPrefix(m, "#") {
				if l2 := len(m) - len(strings.TrimLeft(m, "#")); l2 <= level {
					break
				}
			}
			out = append(out, m)
		}
		return strings.Join(out, "\n")
	}
	t.Fatalf("README has no heading %q", title)
	return ""
}

// Intro returns section up to its first subheading.
func Intro(section string) string {
	var out []string
	inCode := false
	for _, l := range strings.Split(section, "\n") {
		if strings.HasPrefix(l, "```") {
			inCode = !inCode
		}
		if !inCode && strings.HasPrefix(l, "#") {
			break
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// Setting is one row of the README's Configuration table.
type Setting struct {
	Default, UsedBy string
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

// Settings returns the rows of the README's Configuration table by variable
// name; a row naming several variables (`A`, `B` or `A` / `B`) gives each.
func Settings(t testing.TB, readme string) map[string]Setting {
	t.Helper()
	out := map[string]Setting{}
	for _, l := range strings.Split(Section(t, readme, "Configuration"), "\n") {
		cells := strings.Split(l, "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(l), "| `") {
			continue
		}
		s := Setting{Default: strings.TrimSpace(cells[2]), UsedBy: strings.TrimSpace(cells[3])}
		for _, m := range codeSpan.FindAllStringSubmatch(cells[1], -1) {
			out[m[1]] = s
		}
	}
	if len(out) == 0 {
		t.Fatal("README's Configuration table has no rows")
	}
	return out
}

// EnvKeys returns the variables of an envconfig spec, as --help lists them.
func EnvKeys(t testing.TB, spec any) []string {
	t.Helper()
	var b strings.Builder
	if err := envconfig.Usagef("", spec, &b, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	return strings.Fields(b.String())
}

// EnvTable returns the variables of the envconfig table a --help prints
// (the KEY column of "KEY\tTYPE\tDEFAULT…").
func EnvTable(help string) []string {
	_, table, ok := strings.Cut(help, "KEY\tTYPE\t")
	if !ok {
		return nil
	}
	lines := strings.Split(table, "\n")[1:]
	var out []string
	for _, l := range lines {
		key, _, ok := strings.Cut(l, "\t")
		if !ok {
			break
		}
		out = append(out, key)
	}
	return out
}

// CheckSettingsDocumented fails t for every key that is not a row of the
// README's Configuration table.
func CheckSettingsDocumented(t testing.TB, readme string, keys []string, binary string) {
	t.Helper()
	rows := Settings(t, readme)
	for _, k := range keys {
		if _, ok := rows[k]; !ok {
			t.Errorf("%s --help shows %s, which the README's Configuration table does not list", binary, k)
		}
	}
}

// CheckSettingsUsed fails t for every Configuration row whose "used by"
// column names binary but which none of help mentions.
func CheckSettingsUsed(t testing.TB, readme, binary string, help string) {
	t.Helper()
	word := regexp.MustCompile(`(^|[^a-z])` + regexp.QuoteMeta(binary) + `($|[^a-z])`)
	for k, s := range Settings(t, readme) {
		named := regexp.MustCompile(`(^|[^A-Z0-9_])` + regexp.QuoteMeta(k) + `($|[^A-Z0-9_])`)
		if word.MatchString(s.UsedBy) && !named.MatchString(help) {
			t.Errorf("README's Configuration table says %s uses %s, but its --help never mentions it", binary, k)
		}
	}
}

// Help is the --help text of a program and of each of its commands.
type Help struct {
	Program  string
	Commands map[string]string // "dlq list" → its --help
}

// All is every help text joined.
func (h Help) All() string {
	var b strings.Builder
	b.WriteString(h.Program)
	for _, c := range h.Commands {
		b.WriteString("\n")
		b.WriteString(c)
	}
	return b.String()
}

// Run collects the real --help output of p and of each of its commands,
// each of which must exit 0 with the help on stdout.
func Run(t testing.TB, p *cli.Program) Help {
	t.Helper()
	run := func(args ...string) string {
		var out, errOut bytes.Buffer
		if err := p.Run(context.Background(), args, &out, &errOut); err != nil {
			t.Fatalf("%s %s: %v\n%s", p.Name, strings.Join(args, " "), err, errOut.String())
		}
		if out.Len() == 0 {
			t.Fatalf("%s %s printed nothing on stdout", p.Name, strings.Join(args, " "))
		}
		return out.String()
	}
	h := Help{Program: run("--help"), Commands: map[string]string{}}
	for _, c := range p.Commands {
		h.Commands[c.Name] = run(append(strings.Fields(c.Name), "--help")...)
	}
	return h
}

var helpFlag = regexp.MustCompile(`(?m)^\s+--([a-z][a-z0-9-]*)\b`)

// Flags returns the flags a command's --help lists in its Flags section.
func Flags(help string) []string {
	_, flags, ok := strings.Cut(help, "\nFlags:\n")
	if !ok {
		return nil
	}
	flags, _, _ = strings.Cut(flags, "\n\n")
	var out []string
	for _, m := range helpFlag.FindAllStringSubmatch(flags, -1) {
		out = append(out, m[1])
	}
	return out
}

var readmeFlag = regexp.MustCompile(`(^|[\s\x60(\[|,;])--([a-z][a-z0-9-]*[a-z0-9])`)

// MentionedFlags returns the --flags named in text, sorted.
func MentionedFlags(text string) []string {
	seen := map[string]bool{}
	for _, m := range readmeFlag.FindAllStringSubmatch(text, -1) {
		seen[m[2]] = true
	}
	out := make([]string, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// CheckFlagTable fails t unless section holds a table with one row per
// command of h (`name` in the first cell) whose second cell names exactly
// the flags its --help lists, leaving out common (the flags every command
// takes, which the text beside the table states).
func CheckFlagTable(t testing.TB, section, program string, h Help, common ...string) {
	t.Helper()
	skip := map[string]bool{}
	for _, c := range common {
		skip[c] = true
	}
	rows := map[string][]string{}
	for _, l := range strings.Split(section, "\n") {
		cells := strings.Split(l, "|")
		if len(cells) < 4 {
			continue
		}
		m := codeSpan.FindStringSubmatch(cells[1])
		if m == nil || strings.TrimSpace(cells[1]) != "`"+m[1]+"`" {
			continue
		}
		if _, ok := h.Commands[m[1]]; !ok {
			continue
		}
		rows[m[1]] = MentionedFlags(cells[2])
	}
	for name, help := range h.Commands {
		row, ok := rows[name]
		if !ok {
			t.Errorf("README's flags table for %s has no row for %s", program, name)
			continue
		}
		var want []string
		for _, f := range Flags(help) {
			if !skip[f] {
				want = append(want, f)
			}
		}
		sort.Strings(want)
		if strings.Join(want, " ") != strings.Join(row, " ") {
			t.Errorf("README's flags table: %s %s has %q, --help lists %q", program, name, row, want)
		}
	}
}

// CheckFlags fails t when a flag of one of h's commands is not named in
// the README (as --flag), or when section (the text of the README section
// titled title) names a --flag that none of its commands has.
func CheckFlags(t testing.TB, readme, title, section, program string, h Help) {
	t.Helper()
	mentioned := map[string]bool{}
	for _, f := range MentionedFlags(readme) {
		mentioned[f] = true
	}
	has := map[string]bool{"help": true}
	for name, help := range h.Commands {
		for _, f := range Flags(help) {
			has[f] = true
			if !mentioned[f] {
				t.Errorf("%s %s --help has --%s, which the README never names", program, name, f)
			}
		}
	}
	for _, f := range MentionedFlags(section) {
		if !has[f] {
			t.Errorf("README section %q names --%s, which no %s command has", title, f, program)
		}
	}
}

// CheckDefaultTags fails when a field's envconfig default tag (what --help
// prints in its DEFAULT column) differs from what withDefaults applies to
// the zero value (the Default… constants), for a config type C whose
// defaults are stated once in code. It clears C's variables from the
// environment for the test. A field with an envconfig key and no default
// tag fails too unless it is in noDefault (a setting without one, such as
// a required name); fewer than minTagged tagged fields means the test no
// longer looks at the config.
func CheckDefaultTags[C any](t *testing.T, withDefaults func(C) C, minTagged int, noDefault ...string) {
	t.Helper()
	typ := reflect.TypeFor[C]()
	if typ.Kind() != reflect.Struct {
		t.Fatalf("CheckDefaultTags: %s is not a struct", typ)
	}
	for i := range typ.NumField() {
		if key := typ.Field(i).Tag.Get("envconfig"); key != "" {
			t.Setenv(key, "")
			os.Unsetenv(key)
		}
	}
	var fromTags C
	if err := envconfig.Process("", &fromTags); err != nil {
		t.Fatal(err)
	}
	var zero C
	applied := withDefaults(zero)
	fromTags = withDefaults(fromTags) // fields without a tag default the same way in both
	tv, av := reflect.ValueOf(fromTags), reflect.ValueOf(applied)
	tagged := 0
	for i := range typ.NumField() {
		f := typ.Field(i)
		key := f.Tag.Get("envconfig")
		if _, ok := f.Tag.Lookup("default"); !ok {
			if key != "" && !slices.Contains(noDefault, f.Name) {
				t.Errorf("%s (%s) has no default tag: --help shows no default for it", f.Name, key)
			}
			continue
		}
		tagged++
		if !reflect.DeepEqual(tv.Field(i).Interface(), av.Field(i).Interface()) {
			t.Errorf("%s (%s): --help says %q, the code applies %v", f.Name, key, f.Tag.Get("default"), av.Field(i).Interface())
		}
	}
	if tagged < minTagged {
		t.Fatalf("only %d fields carry a default tag (want at least %d): the test no longer looks at the config", tagged, minTagged)
	}
}

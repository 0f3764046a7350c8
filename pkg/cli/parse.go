package cli

import (
	"errors"
	"flag"
	"fmt"
	"regexp"
)

// Parse parses args into fs with flags allowed anywhere: before, between
// and after positional arguments ("dlq show 1 --json" and "dlq show --json
// 1" are the same). A lone "--" ends the flags; what follows is positional.
// It returns the positional arguments. Errors name the flag (--json) and
// wrap ErrUsage; --help returns an error for which ExitCode is 0.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(discard{})
	fs.Usage = func() {}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, Usagef("%s", dashes(err.Error()))
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// dashes rewrites the flag package's "-name" in its messages as "--name",
// the spelling the help shows.
func dashes(msg string) string {
	return flagNameRe.ReplaceAllString(msg, "${1}--${2}")
}

var flagNameRe = regexp.MustCompile(`(defined: |for flag |argument: |value .* for )-([A-Za-z])`)

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// PrintFlags writes fs's flags as "  --name VALUE  usage (default x)" lines.
func PrintFlags(w interface{ Write([]byte) (int, error) }, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		head := "  --" + f.Name
		if name != "" {
			head += " " + name
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "[]" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		if len(head) <= 22 {
			fmt.Fprintf(w, "%-24s%s%s\n", head, usage, def)
		} else {
			fmt.Fprintf(w, "%s\n%24s%s%s\n", head, "", usage, def)
		}
	})
}

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// Command is one entry of a Program's table. Adding a subcommand is adding
// one Command (usually returned by a function in the subcommand's own file).
type Command struct {
	// Name is the words after the program name: "status", "dlq show".
	Name string
	// Args is the synopsis of the positional arguments: "SEQ", "FILE...".
	Args string
	// Summary is the one line shown in the program's command table.
	Summary string
	// Help is the long description shown by "COMMAND --help".
	Help string
	// Writes marks a command that changes something: it gets --dry-run,
	// and must do nothing but report what it would do when it is set.
	Writes bool
	// Setup defines the command's own flags on fs and returns the action
	// that runs with them. --json (and --dry-run when Writes) are defined
	// by the layer and arrive in the Invocation.
	Setup func(fs *flag.FlagSet) Action
	// RawArgs hands every argument after the command words to the action
	// unparsed (in.Args), for a command that parses its own flags; prefer
	// Setup's flag set, which gives flags anywhere and the common flags.
	RawArgs bool
}

// Action runs one parsed command.
type Action func(ctx context.Context, in *Invocation) error

// Invocation is what an Action gets: its positional arguments, the common
// flags and where to write. Results go to Stdout (JSON only when JSON is
// set), progress, warnings and per-record errors to Stderr.
type Invocation struct {
	Program string   // "syncctl"
	Command string   // "dlq show"
	Args    []string // positional arguments
	JSON    bool     // --json
	DryRun  bool     // --dry-run (commands that write)
	Stdout  io.Writer
	Stderr  io.Writer
	// Flags is the command's flag set, to ask which flags were set.
	Flags *flag.FlagSet
}

// Set reports whether flag name was given on the command line.
func (in *Invocation) Set(name string) bool {
	set := false
	in.Flags.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// NoArgs is a usage error when the command got positional arguments.
func (in *Invocation) NoArgs() error {
	if len(in.Args) > 0 {
		return Usagef("%s takes no arguments (got %q)", in.Command, in.Args)
	}
	return nil
}

// Program is a command-line tool: a name, its help text and its commands.
type Program struct {
	Name    string // "syncctl"
	Summary string // first paragraph of --help
	// Footer follows the command table in --help: environment, exit status.
	Footer   string
	Commands []*Command
	// Default, when set, is the command run with no command words (a tool
	// with one command, such as standalone).
	Default *Command
}

// Main runs the program on os.Args with SIGINT/SIGTERM cancelling its
// context, prints the error once and exits with its code.
func (p *Program) Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := p.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(p.Exit(err, os.Stderr))
}

// Exit prints err (if any) to stderr as "PROGRAM: message", with a pointer
// to --help for usage errors, and returns the exit code.
func (p *Program) Exit(err error, stderr io.Writer) int {
	code := ExitCode(err)
	if err != nil && code != ExitOK {
		fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
		if code == ExitUsage {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", p.Name)
		}
	}
	return code
}

// Run parses args (without the program name), runs the command they name
// and returns its error; ExitCode maps it to the exit status. Help goes to
// stdout and returns nil.
func (p *Program) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd, rest, err := p.find(args)
	if err != nil {
		return err
	}
	if cmd == nil { // program help
		p.WriteHelp(stdout)
		return nil
	}
	// One lock for stderr: the logger, progress lines and per-record
	// errors write it from several goroutines.
	stderr = &lockedWriter{w: stderr}
	fs := flag.NewFlagSet(p.Name+" "+cmd.Name, flag.ContinueOnError)
	in := &Invocation{Program: p.Name, Command: strings.TrimSpace(p.Name + " " + cmd.Name), Stdout: stdout, Stderr: stderr, Flags: fs}
	var action Action
	if cmd.Setup != nil {
		action = cmd.Setup(fs)
	}
	fs.BoolVar(&in.JSON, "json", false, "print the result as JSON on stdout (nothing else goes to stdout)")
	if cmd.Writes {
		fs.BoolVar(&in.DryRun, "dry-run", false, "show what would be done; change nothing")
	}
	if cmd.RawArgs {
		in.Args = rest
		if action == nil {
			return Usagef("%s: not implemented", in.Command)
		}
		return action(ctx, in)
	}
	pos, err := Parse(fs, rest)
	if errors.Is(err, errHelp) {
		p.WriteCommandHelp(stdout, cmd, fs)
		return nil
	}
	if err != nil {
		return Usagef("%s: %v", in.Command, err)
	}
	in.Args = pos
	if action == nil {
		return Usagef("%s: not implemented", in.Command)
	}
	return action(ctx, in)
}

// find resolves the command named by the leading words of args (flags may
// come before them); it returns nil for program help.
func (p *Program) find(args []string) (*Command, []string, error) {
	var path []string
	var rest []string
	var found *Command
	for i, a := range args {
		if found != nil && !p.hasChildren(found.Name) {
			rest = append(rest, args[i:]...)
			break
		}
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if strings.HasPrefix(a, "-") {
			if (a == "-h" || a == "--help" || a == "-help") && found == nil && len(path) == 0 && p.Default == nil {
				return nil, nil, nil
			}
			rest = append(rest, a)
			continue
		}
		if len(path) == 0 && a == "help" {
			if len(args[i+1:]) == 0 {
				return nil, nil, nil
			}
			c, _, err := p.find(args[i+1:])
			if err != nil || c == nil {
				return nil, nil, err
			}
			return c, []string{"--help"}, nil
		}
		next := strings.Join(append(append([]string{}, path...), a), " ")
		if c := p.lookup(next); c != nil {
			path, found = append(path, a), c
			continue
		}
		if p.hasChildren(next) {
			path = append(path, a)
			continue
		}
		if len(path) == 0 && p.Default == nil {
			return nil, nil, Usagef("unknown command %q (commands: %s)", a, strings.Join(p.names(""), ", "))
		}
		if found == nil && len(path) > 0 {
			group := strings.Join(path, " ")
			return nil, nil, Usagef("unknown command %q after %q (want %s)", a, group, strings.Join(p.names(group), ", "))
		}
		rest = append(rest, args[i:]...)
		break
	}
	switch {
	case found != nil:
		return found, rest, nil
	case len(path) > 0:
		group := strings.Join(path, " ")
		for _, a := range rest {
			if a == "-h" || a == "--help" || a == "-help" {
				return nil, nil, nil
			}
		}
		return nil, nil, Usagef("%s %s needs a command: %s", p.Name, group, strings.Join(p.names(group), ", "))
	case p.Default != nil:
		return p.Default, rest, nil
	}
	for _, a := range rest {
		if a == "-h" || a == "--help" || a == "-help" {
			return nil, nil, nil
		}
	}
	return nil, nil, Usagef("a command is required (commands: %s)", strings.Join(p.names(""), ", "))
}

func (p *Program) lookup(name string) *Command {
	for _, c := range p.Commands {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (p *Program) hasChildren(name string) bool {
	for _, c := range p.Commands {
		if strings.HasPrefix(c.Name, name+" ") {
			return true
		}
	}
	return false
}

// names lists the next words after group ("" = top level).
func (p *Program) names(group string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range p.Commands {
		n := c.Name
		if group != "" {
			if !strings.HasPrefix(n, group+" ") {
				continue
			}
			n = strings.TrimPrefix(n, group+" ")
		}
		w := strings.Fields(n)[0]
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	sort.Strings(out)
	return out
}

// WriteHelp writes the program's help: summary, command table, footer.
func (p *Program) WriteHelp(w io.Writer) {
	fmt.Fprint(w, strings.TrimSpace(p.Summary)+"\n\n")
	if len(p.Commands) > 0 {
		fmt.Fprintln(w, "Commands:")
		for _, c := range p.Commands {
			syn := c.Name
			if c.Args != "" {
				syn += " " + c.Args
			}
			if len(syn) <= 26 {
				fmt.Fprintf(w, "  %s %-26s %s\n", p.Name, syn, c.Summary)
			} else {
				fmt.Fprintf(w, "  %s %s\n  %*s %s\n", p.Name, syn, len(p.Name)+26, "", c.Summary)
			}
		}
		fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's flags. Every command takes --json;\nevery command that writes takes --dry-run. Flags may come before or after arguments.\n", p.Name)
	}
	if p.Footer != "" {
		fmt.Fprint(w, "\n"+strings.TrimSpace(p.Footer)+"\n")
	}
	if p.Commands == nil || p.Footer == "" || !strings.Contains(p.Footer, "Exit status") {
		fmt.Fprint(w, "\n"+exitHelp)
	}
}

const exitHelp = "Exit status: 0 ok, 1 failure, 2 usage (bad flag, argument or setting), 3 incomplete.\n"

// WriteCommandHelp writes one command's help: synopsis, description, flags.
func (p *Program) WriteCommandHelp(w io.Writer, c *Command, fs *flag.FlagSet) {
	syn := strings.TrimSpace(p.Name + " " + c.Name)
	fmt.Fprintf(w, "Usage: %s [flags]", syn)
	if c.Args != "" {
		fmt.Fprintf(w, " %s", c.Args)
	}
	fmt.Fprintln(w)
	if c.Summary != "" {
		fmt.Fprintf(w, "\n%s\n", c.Summary)
	}
	if h := strings.Trim(c.Help, "\n"); h != "" {
		fmt.Fprintf(w, "\n%s\n", h)
	}
	fmt.Fprintln(w, "\nFlags:")
	PrintFlags(w, fs)
	if p.Default == c && p.Footer != "" {
		fmt.Fprint(w, "\n"+strings.TrimSpace(p.Footer)+"\n")
	}
	fmt.Fprint(w, "\n"+exitHelp)
}

// lockedWriter serializes writes, so lines from goroutines never interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Unwrap returns the underlying writer (to ask whether it is a terminal).
func (l *lockedWriter) Unwrap() io.Writer { return l.w }

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

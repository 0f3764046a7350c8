package main

import (
	"regexp"
	"testing"

	"github.com/contactsync/contactsync/pkg/cli/helptest"
	"github.com/contactsync/contactsync/pkg/ops"
)

// Issue 10: README tables and --help disagreed. Every flag of every syncctl
// command is named in the README, every --flag of the Operations section
// exists, every setting the help names is in the Configuration table, and
// every row that says syncctl uses it is in the help.
func TestREADMEAgreesWithHelp(t *testing.T) {
	readme := helptest.README(t)
	h := helptest.Run(t, ops.Program())
	helptest.CheckFlags(t, readme, "Operations", helptest.Section(t, readme, "Operations"), "syncctl", h)
	helptest.CheckFlagTable(t, helptest.Section(t, readme, "Operations"), "syncctl", h, "json", "dry-run", "nats", "data", "timeout")
	var keys []string
	for _, m := range envName.FindAllString(h.All(), -1) {
		keys = append(keys, m)
	}
	helptest.CheckSettingsDocumented(t, readme, keys, "syncctl")
	helptest.CheckSettingsUsed(t, readme, "syncctl", h.All())
}

// envName matches the settings syncctl's help refers to by name.
var envName = regexp.MustCompile(`\b(?:NATS|SF|SYNC)_[A-Z0-9_]+\b`)

package main

import (
	"testing"

	"github.com/contactsync/contactsync/pkg/cli/helptest"
	"github.com/contactsync/contactsync/pkg/producer"
)

// Issue 10: README tables and --help disagreed. Every flag of every producer
// command is named in the README, every --flag of the Producer section
// exists, every variable of the help's environment table is in the
// Configuration table, and every row that says producer uses it is in the
// help.
func TestREADMEAgreesWithHelp(t *testing.T) {
	readme := helptest.README(t)
	h := helptest.Run(t, producer.Program())
	helptest.CheckFlags(t, readme, "Producer", helptest.Intro(helptest.Section(t, readme, "Producer")), "producer", h)
	helptest.CheckFlagTable(t, helptest.Intro(helptest.Section(t, readme, "Producer")), "producer", h, "json", "dry-run")
	keys := helptest.EnvTable(h.Program)
	if len(keys) == 0 {
		t.Fatalf("producer --help has no environment table:\n%s", h.Program)
	}
	helptest.CheckSettingsDocumented(t, readme, keys, "producer")
	helptest.CheckSettingsUsed(t, readme, "producer", h.All())
}

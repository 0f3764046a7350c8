package main

import (
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/cli/helptest"
)

// Issue 10: settings the binary reads were missing from the README. This
// fails when --help's environment table names a variable the README's
// Configuration table does not list, or when that table says this service
// uses a variable its --help does not name.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	readme := helptest.README(t)
	keys := helptest.EnvKeys(t, &config{})
	helptest.CheckSettingsDocumented(t, readme, keys, "reconciler")
	helptest.CheckSettingsUsed(t, readme, "reconciler", help+"\n"+strings.Join(keys, "\n"))
}

package main

import (
	"os"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"
)

// Issue 10: settings the binary reads were missing from the README. This
// fails when --help's environment table names a variable the README does not.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	var b strings.Builder
	if err := envconfig.Usagef("", &config{}, &b, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range strings.Fields(b.String()) {
		if !strings.Contains(string(readme), "`"+key+"`") {
			t.Errorf("README does not document %s (shown by --help)", key)
		}
	}
}

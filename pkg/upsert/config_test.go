package upsert

import (
	"testing"

	"github.com/contactsync/contactsync/pkg/cli/helptest"
)

// The defaults a user reads in --help (the envconfig default tags) are the
// ones New applies (the Default… constants through setDefaults): a change
// to one without the other fails here.
func TestDefaultTagsMatchDefaults(t *testing.T) {
	helptest.CheckDefaultTags(t, func(c Config) Config { c.setDefaults(); return c }, 10, "Member")
}

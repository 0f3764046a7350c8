package reconcile

import (
	"testing"

	"github.com/contactsync/contactsync/pkg/cli/helptest"
)

// The defaults are stated once (the Default… constants, applied by
// WithDefaults); the default tags that --help prints must say the same, or
// an operator reading --help is told a value the reconciler does not use.
func TestDefaultTagsMatchDefaults(t *testing.T) {
	helptest.CheckDefaultTags(t, Config.WithDefaults, 10)
}

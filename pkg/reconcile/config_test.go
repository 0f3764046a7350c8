package reconcile

import (
	"os"
	"reflect"
	"testing"

	"github.com/kelseyhightower/envconfig"
)

// The defaults are stated once (the Default… constants, applied by
// WithDefaults); the default tags that --help prints must say the same, or
// an operator reading --help is told a value the reconciler does not use.
func TestDefaultTagsMatchDefaults(t *testing.T) {
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		if key := typ.Field(i).Tag.Get("envconfig"); key != "" {
			t.Setenv(key, "")
			os.Unsetenv(key)
		}
	}
	var fromTags Config
	if err := envconfig.Process("", &fromTags); err != nil {
		t.Fatal(err)
	}
	applied := Config{}.WithDefaults()
	tv, av := reflect.ValueOf(fromTags), reflect.ValueOf(applied)
	tagged := 0
	for i := range typ.NumField() {
		f := typ.Field(i)
		if _, ok := f.Tag.Lookup("default"); !ok {
			if f.Tag.Get("envconfig") != "" {
				t.Errorf("%s (%s) has no default tag: --help would show none", f.Name, f.Tag.Get("envconfig"))
			}
			continue
		}
		tagged++
		if !reflect.DeepEqual(tv.Field(i).Interface(), av.Field(i).Interface()) {
			t.Errorf("%s (%s): --help says %q, New applies %v", f.Name, f.Tag.Get("envconfig"), f.Tag.Get("default"), av.Field(i).Interface())
		}
	}
	if tagged < 10 {
		t.Fatalf("only %d fields carry a default tag: the test no longer looks at the config", tagged)
	}
}

package upsert

import (
	"os"
	"reflect"
	"testing"

	"github.com/kelseyhightower/envconfig"
)

// The defaults a user reads in --help (the envconfig default tags) are the
// ones New applies (the Default… constants through setDefaults): a change
// to one without the other fails here.
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
	var applied Config
	applied.setDefaults()
	fromTags.setDefaults() // fields without a tag default the same way in both
	tv, av := reflect.ValueOf(fromTags), reflect.ValueOf(applied)
	tagged := 0
	for i := range typ.NumField() {
		f := typ.Field(i)
		if _, ok := f.Tag.Lookup("default"); !ok {
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

package conflict

import (
	"errors"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	for in, want := range map[string]Policy{"": Strict, "strict": Strict, " External-ID ": ExternalID, "EMAIL": Email} {
		got, err := ParsePolicy(in)
		if err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"external_id", "loose", "e-mail"} {
		if _, err := ParsePolicy(in); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("ParsePolicy(%q) err = %v, want ErrInvalidPolicy", in, err)
		}
	}
}

func TestPolicyFor(t *testing.T) {
	env := map[string]string{"SYNC_POLICY_EMEA_WEST": "email", "SYNC_POLICY_APAC": "bogus", "SYNC_POLICY_US": ""}
	get := func(k string) string { return env[k] }
	cases := []struct {
		seg     string
		def     Policy
		want    Policy
		wantErr bool
	}{
		{"emea-west", Strict, Email, false},
		{"emea_west", ExternalID, Email, false},
		{"us", ExternalID, ExternalID, false},
		{"latam", "", Strict, false},
		{"apac", Strict, "", true},
		{"latam", "weird", "", true},
	}
	for _, c := range cases {
		got, err := PolicyFor(c.seg, c.def, get)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("PolicyFor(%q, %q) = %q, %v; want %q (err %v)", c.seg, c.def, got, err, c.want, c.wantErr)
		}
	}
	if EnvVar("emea-west") != "SYNC_POLICY_EMEA_WEST" {
		t.Errorf("EnvVar = %s", EnvVar("emea-west"))
	}
}

func TestConfigFromEnv(t *testing.T) {
	cfg, err := ConfigFromEnv([]string{"SYNC_POLICY=external-id", "SYNC_POLICY_EMEA_WEST=email",
		"SYNC_ADOPT_UNLINKED=false", "SF_EXTERNAL_ID_FIELD=Ext__c", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DefaultPolicy != ExternalID || !cfg.NoAdoptUnlinked || cfg.ExternalIDField != "Ext__c" {
		t.Fatalf("cfg = %+v", cfg)
	}
	r := NewResolver(nil, cfg, nil)
	for seg, want := range map[string]Policy{"emea-west": Email, "emea_west": Email, "us": ExternalID} {
		if got, err := r.PolicyOf(seg); err != nil || got != want {
			t.Errorf("PolicyOf(%q) = %q, %v; want %q", seg, got, err, want)
		}
	}
	for _, env := range [][]string{{"SYNC_POLICY=nope"}, {"SYNC_POLICY_X=nope"}, {"SYNC_ADOPT_UNLINKED=maybe"},
		{"SF_EXTERNAL_ID_FIELD=bad field"}} {
		if _, err := ConfigFromEnv(env); err == nil {
			t.Errorf("ConfigFromEnv(%q): no error", env)
		}
	}
}

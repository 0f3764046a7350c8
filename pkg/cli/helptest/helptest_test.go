package helptest

import (
	"slices"
	"testing"
)

func TestFlagsReadsOnlyTheFlagsSection(t *testing.T) {
	help := "Usage: x run [flags]\n\nmentions --not-a-flag in prose\n\nFlags:\n  --code string   only this code\n  --dry-run       show\n\nExit status: 0 ok.\n"
	if got := Flags(help); !slices.Equal(got, []string{"code", "dry-run"}) {
		t.Fatalf("Flags = %q", got)
	}
}

func TestEnvTable(t *testing.T) {
	help := "Environment:\nKEY\tTYPE\tDEFAULT\tREQUIRED\tDESCRIPTION\nNATS_URL\tString\t\t\turl\nLOG_LEVEL\tString\tinfo\t\tlevel\n\nExit status: 0\n"
	if got := EnvTable(help); !slices.Equal(got, []string{"NATS_URL", "LOG_LEVEL"}) {
		t.Fatalf("EnvTable = %q", got)
	}
}

func TestSettingsSplitsRowsNamingSeveral(t *testing.T) {
	readme := "# x\n## Configuration\n\n| name | default | used by | meaning |\n|---|---|---|---|\n| `A_B`, `C_D` | 1 | producer | m |\n| `E` / `F` | | upserter | n |\n## Next\n| `G` | | x | y |\n"
	got := Settings(t, readme)
	for _, k := range []string{"A_B", "C_D", "E", "F"} {
		if _, ok := got[k]; !ok {
			t.Errorf("%s missing from %v", k, got)
		}
	}
	if _, ok := got["G"]; ok || got["C_D"].UsedBy != "producer" {
		t.Errorf("Settings = %v", got)
	}
}

package cli

import (
	"errors"
	"io"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// LoadEnv fills cfg (a pointer to an envconfig-tagged struct) from the
// environment. A bad or missing value is a usage error that names the
// variable as the user sets it and what it wants:
// `NATS_PARTITIONS="x": want an integer`, not a Go field name.
func LoadEnv(cfg any) error {
	err := envconfig.Process("", cfg)
	if err == nil {
		return nil
	}
	var pe *envconfig.ParseError
	if errors.As(err, &pe) {
		return Usagef("%s=%q: want %s", pe.KeyName, pe.Value, want(pe.TypeName))
	}
	// "required key X missing value"
	msg := err.Error()
	if f := strings.Fields(msg); len(f) >= 3 && f[0] == "required" && f[1] == "key" {
		return Usagef("%s is required", f[2])
	}
	return Usagef("%s", strings.TrimPrefix(msg, "envconfig.Process: "))
}

func want(typ string) string {
	switch typ {
	case "int", "int64", "int32", "uint", "uint64", "uint32":
		return "an integer"
	case "float64", "float32":
		return "a number"
	case "bool":
		return "true or false"
	case "Duration":
		return "a duration such as 90m, 36h or 3d"
	}
	return "a valid " + typ
}

// WriteEnv writes the environment table of cfg (a pointer to an
// envconfig-tagged struct): variable, type, default, required, description.
func WriteEnv(w io.Writer, cfg any) {
	_ = envconfig.Usagef("", cfg, w, envconfig.DefaultTableFormat)
}

// EnvHelp returns WriteEnv's table as a string.
func EnvHelp(cfg any) string {
	var b strings.Builder
	WriteEnv(&b, cfg)
	return b.String()
}

package cli

import (
	"flag"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var dayRe = regexp.MustCompile(`(\d+(?:\.\d+)?)d`)

// ParseDuration parses the one duration form of every contactsync flag and
// setting: a Go duration ("90m", "36h", "1h30m", "500ms") with days as well
// ("3d" = 72h, "1d12h"). Durations are not negative.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("empty duration: want e.g. 90m, 36h or 3d")
	}
	var bad error
	expanded := dayRe.ReplaceAllStringFunc(in, func(m string) string {
		days, err := strconv.ParseFloat(strings.TrimSuffix(m, "d"), 64)
		if err != nil {
			bad = err
		}
		return strconv.FormatFloat(days*24, 'f', -1, 64) + "h"
	})
	d, err := time.ParseDuration(expanded)
	if err != nil || bad != nil {
		return 0, fmt.Errorf("%q: want a duration such as 90m, 36h or 3d", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: want a duration >= 0", s)
	}
	return d, nil
}

// FormatDuration writes d the way ParseDuration reads it, shortest first:
// 72h → "3d", 90m → "1h30m", 0 → "0s".
func FormatDuration(d time.Duration) string {
	if d <= 0 || d%time.Second != 0 {
		return d.String()
	}
	var b strings.Builder
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dd", days)
		d -= days * 24 * time.Hour
	}
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.unit
		}
	}
	return b.String()
}

// Duration is a time.Duration that parses with ParseDuration, as a flag
// (flag.Value) and as an environment setting (envconfig's Decoder).
type Duration time.Duration

// Set implements flag.Value.
func (d *Duration) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// String implements flag.Value.
func (d *Duration) String() string {
	if d == nil {
		return "0s"
	}
	return FormatDuration(time.Duration(*d))
}

// Decode implements envconfig.Decoder.
func (d *Duration) Decode(s string) error { return d.Set(s) }

// DurationVar defines a duration flag in the one form (3d, 36h, 90m).
func DurationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var((*Duration)(p), name, usage)
}

package cli

import (
	"errors"
	"fmt"
)

// Exit statuses, the same for every contactsync command.
const (
	ExitOK         = 0 // done
	ExitFailure    = 1 // the command ran and failed (or some input was rejected)
	ExitUsage      = 2 // bad command line or setting: nothing was done
	ExitIncomplete = 3 // finished, but not every record is accounted for
)

var (
	// ErrUsage marks a bad command line or setting (exit 2).
	ErrUsage = errors.New("usage error")
	// ErrIncomplete marks a run that ended without accounting for everything (exit 3).
	ErrIncomplete = errors.New("incomplete")
	// ErrRejected marks input that was refused, in part or whole (exit 1).
	ErrRejected = errors.New("some records were rejected")
	// errHelp is returned once help was printed (exit 0).
	errHelp = errors.New("help shown")
)

// Usagef returns an error that wraps ErrUsage. Name the flag or variable as
// the user spells it: Usagef("--segment %q: want [a-z0-9_-]+", s).
func Usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// AsUsage marks err as a usage error (exit 2); nil stays nil.
func AsUsage(err error) error {
	if err == nil || errors.Is(err, ErrUsage) {
		return err
	}
	return &usageError{msg: err.Error(), err: err}
}

type usageError struct {
	msg string
	err error
}

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Is(target error) bool {
	return target == ErrUsage
}
func (e *usageError) Unwrap() error { return e.err }

// ExitCode is the exit status for a command's error.
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, errHelp):
		return ExitOK
	case errors.Is(err, ErrUsage):
		return ExitUsage
	case errors.Is(err, ErrIncomplete):
		return ExitIncomplete
	}
	return ExitFailure
}

package config

import (
	"fmt"

	"github.com/spf13/pflag"
)

// ErrHelp is returned by Load when the arguments ask for help (-h or --help).
// The usage text has already been written; main should exit with status 0.
// It is pflag's own sentinel, so errors.Is works with either name.
var ErrHelp = pflag.ErrHelp

// FieldError reports a bad value for one setting. Load returns it for values
// that do not parse, and Validate methods should return it too (see Errorf), so
// that every configuration message names the key and its environment variable
// the same way: "http_addr (HTTP_ADDR): must be host:port".
type FieldError struct {
	Key string // the snake_case key, as written in a config file
	Err error  // what is wrong, e.g. "must be host:port"
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s (%s): %v", e.Key, envName(e.Key), e.Err)
}

// Unwrap lets errors.Is and errors.As see the cause, e.g. a sentinel from a
// parse helper that a Validate method wrapped with %w.
func (e *FieldError) Unwrap() error { return e.Err }

// Errorf returns a *FieldError for key whose Err is fmt.Errorf(format, args...),
// so %w wraps as usual. It is meant for Validate methods:
//
//	if c.Workers < 1 {
//		return config.Errorf("workers", "must be at least 1, got %d", c.Workers)
//	}
func Errorf(key, format string, args ...any) error {
	return &FieldError{Key: key, Err: fmt.Errorf(format, args...)}
}

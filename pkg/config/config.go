// Package config loads a service's typed configuration struct from, in rising
// precedence, the struct's own field values (the defaults), an optional config
// file, environment variables and command-line flags.
//
// A setting is an exported field with a `config` tag naming its snake_case key,
// and an optional `help` text and `secret:"true"` marker:
//
//	type Config struct {
//		HTTPAddr string        `config:"http_addr" help:"HTTP listen address"`
//		Interval time.Duration `config:"simulator_interval" help:"time between simulated orders"`
//		Kafka    kafka.Config  // a section: its fields' keys are used as they are
//	}
//
// The key names everything else: the environment variable is the key in upper
// case (HTTP_ADDR), the flag is the key with dashes (--http-addr), and a config
// file uses the key itself. Fields may be string, int, bool, float64,
// time.Duration or []string; lists are comma-separated in env and flags
// (KAFKA_BROKERS=a:9092,b:9092). A struct-typed field is a section whose keys
// are flattened into the same namespace, prefixed by the section's own tag if
// it has one (`config:"kafka"` turns "brokers" into "kafka_brokers").
//
// Load uses viper for the file and the layering, with a fresh viper instance
// per call and no package state, so tests can load many configs in parallel.
package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// ConfigFileEnv names the environment variable that, like the --config flag,
// points at a config file. The flag wins when both are given.
const ConfigFileEnv = "CONFIG_FILE"

// fileExts are the config file formats we promise. viper knows a few more,
// but these are the ones with a clear, typed mapping to our settings.
var fileExts = []string{".yaml", ".yml", ".json", ".toml"}

// Option changes how Load behaves.
type Option func(*options)

type options struct {
	usage io.Writer
}

// WithUsageOutput sets where --help writes the usage text (os.Stdout by
// default, since help was asked for and is not an error).
func WithUsageOutput(w io.Writer) Option {
	return func(o *options) { o.usage = w }
}

// Load fills cfg, a pointer to a struct whose current field values are the
// defaults, from an optional config file, the environment and args (usually
// os.Args[1:]), then calls cfg.Validate() if cfg has that method.
//
// name is the program name shown in the usage text. If args ask for help, Load
// writes usage and returns ErrHelp. Bad values are reported as *FieldError, all
// of them at once, and cfg is left unchanged; a failing Validate is returned
// wrapped as "invalid configuration: ...". An empty environment variable counts
// as unset, so `KAFKA_BROKERS=` in an env file keeps the default.
func Load(name string, args []string, cfg any, opts ...Option) error {
	o := options{usage: os.Stdout}
	for _, opt := range opts {
		opt(&o)
	}

	settings, err := settings(cfg)
	if err != nil {
		return err
	}

	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	// Load reports problems as errors and prints usage itself, so pflag must
	// print nothing.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	configFlag := fs.String("config", "", "config file")
	for _, s := range settings {
		f := fs.VarPF(&flagValue{kind: s.kind, text: format(s.current())}, s.flag(), "", s.help)
		if s.kind == kindBool {
			f.NoOptDefVal = "true" // so --verbose works without "=true"
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			writeUsage(o.usage, name, settings)
			return ErrHelp
		}
		return fmt.Errorf("config: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("config: unexpected argument %q (settings are flags, e.g. --%s value)", fs.Arg(0), settings[0].flag())
	}

	v := viper.New()
	path := *configFlag
	if path == "" {
		path = os.Getenv(ConfigFileEnv)
	}
	if path != "" {
		if err := readFile(v, path, settings); err != nil {
			return err
		}
	}

	for _, s := range settings {
		// Every key gets a default: viper only reports env and flag values
		// for keys it already knows, and this is how it learns them.
		v.SetDefault(s.key, s.current())
		if err := v.BindEnv(s.key, s.env()); err != nil {
			return fmt.Errorf("config: bind %s: %w", s.env(), err)
		}
		if err := v.BindPFlag(s.key, fs.Lookup(s.flag())); err != nil {
			return fmt.Errorf("config: bind --%s: %w", s.flag(), err)
		}
	}

	// Convert everything before assigning anything, so a failed Load leaves
	// cfg as it was and the caller sees every bad value at once.
	values := make([]any, len(settings))
	var errs []error
	for i, s := range settings {
		value, err := convert(s.kind, v.Get(s.key))
		if err != nil {
			errs = append(errs, fmt.Errorf("config: %w", &FieldError{
				Key: s.key,
				Err: fmt.Errorf("%w, set in %s", err, origin(s, fs, v, path)),
			}))
			continue
		}
		values[i] = value
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for i, s := range settings {
		s.set(values[i])
	}

	if validator, ok := cfg.(interface{ Validate() error }); ok {
		if err := validator.Validate(); err != nil {
			return fmt.Errorf("invalid configuration: %w", err)
		}
	}
	return nil
}

// readFile reads the config file into v and rejects keys no setting declares:
// a misspelt key would otherwise be ignored and its default silently used.
func readFile(v *viper.Viper, path string, settings []setting) error {
	if !slices.Contains(fileExts, strings.ToLower(filepath.Ext(path))) {
		return fmt.Errorf("config: config file %s: unsupported extension (want %s)", path, strings.Join(fileExts, ", "))
	}
	v.SetConfigFile(path)
	if err := v.ReadInConfig(); err != nil {
		return fmt.Errorf("config: config file %s: %w", path, err)
	}

	known := make(map[string]bool, len(settings))
	for _, s := range settings {
		known[s.key] = true
	}
	// Only the file has been loaded so far, so AllKeys lists exactly its keys.
	var unknown []string
	for _, key := range v.AllKeys() {
		if known[key] {
			continue
		}
		if flat := strings.ReplaceAll(key, ".", "_"); known[flat] {
			key = fmt.Sprintf("%s (keys are flat: write %s)", key, flat)
		}
		unknown = append(unknown, key)
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("config: config file %s: unknown key %s", path, strings.Join(unknown, ", "))
	}
	return nil
}

// origin says which source supplied a setting's value, mirroring viper's
// precedence, so an error can point at the line the user has to fix.
func origin(s setting, fs *pflag.FlagSet, v *viper.Viper, path string) string {
	switch {
	case fs.Changed(s.flag()):
		return "flag --" + s.flag()
	case os.Getenv(s.env()) != "":
		return "the environment"
	case v.InConfig(s.key):
		return "config file " + path
	}
	return "default"
}

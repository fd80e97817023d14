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
// viper layers the sources and mapstructure decodes them, through one decode
// hook that parses every source alike. This package adds what they lack: the
// flags, the usage text, secret masking, and errors that name the key, its
// variable and the source of a bad value. Each Load uses a fresh viper, so
// tests can load many configs in parallel.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/go-viper/mapstructure/v2"
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
	fs.SetOutput(io.Discard) // Load returns errors and prints usage itself
	fs.Usage = func() {}
	configFlag := fs.String("config", "", "config file")
	for _, s := range settings {
		f := fs.VarPF(&flagValue{typ: s.field.Type()}, s.flag(), "", s.help)
		if s.field.Kind() == reflect.Bool {
			f.NoOptDefVal = "true" // so --verbose works without "=true"
		}
	}
	if err := fs.Parse(args); errors.Is(err, pflag.ErrHelp) {
		writeUsage(o.usage, name, settings)
		return ErrHelp
	} else if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("config: unexpected argument %q (settings are flags, e.g. --%s value)", fs.Arg(0), settings[0].flag())
	}

	v := viper.New()
	path := cmp.Or(*configFlag, os.Getenv(ConfigFileEnv))
	if path != "" {
		if !slices.Contains(fileExts, strings.ToLower(filepath.Ext(path))) {
			return fmt.Errorf("config: config file %s: unsupported extension (want %s)", path, strings.Join(fileExts, ", "))
		}
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("config: config file %s: %w", path, err)
		}
	}
	// Decode into a struct with one field per key, of the setting's own type:
	// it is the flat namespace viper and mapstructure understand, and a
	// failed Load leaves cfg as it was.
	fields := make([]reflect.StructField, len(settings))
	for i, s := range settings {
		// Every key gets a default: viper reports env and flag values only
		// for keys it already knows.
		v.SetDefault(s.key, s.field.Interface())
		if err := errors.Join(v.BindEnv(s.key, s.env()), v.BindPFlag(s.key, fs.Lookup(s.flag()))); err != nil {
			return fmt.Errorf("config: bind %s: %w", s.key, err)
		}
		fields[i] = reflect.StructField{Name: fmt.Sprint("F", i), Type: s.field.Type(), Tag: reflect.StructTag(`mapstructure:"` + s.key + `"`)}
	}
	decoded := reflect.New(reflect.StructOf(fields))
	err = v.UnmarshalExact(decoded.Interface(), viper.DecodeHook(mapstructure.DecodeHookFuncType(parse)),
		func(c *mapstructure.DecoderConfig) { c.WeaklyTypedInput = false })
	if err != nil {
		return explain(err, settings, fs, v, path)
	}
	for i, s := range settings {
		s.field.Set(decoded.Elem().Field(i))
	}

	if validator, ok := cfg.(interface{ Validate() error }); ok {
		if err := validator.Validate(); err != nil {
			return fmt.Errorf("invalid configuration: %w", err)
		}
	}
	return nil
}

// explain turns UnmarshalExact's errors into one *FieldError per bad value,
// saying which source set it, and its complaint about keys no setting
// declares into a list of them: a misspelt key would otherwise be ignored and
// its default silently used.
func explain(err error, settings []setting, fs *pflag.FlagSet, v *viper.Viper, path string) error {
	byKey := make(map[string]setting, len(settings))
	for _, s := range settings {
		byKey[s.key] = s
	}
	// mapstructure joins one error per bad field (per item, for a list).
	list := []error{err}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		list = joined.Unwrap()
	}
	var errs []error
	for _, e := range list {
		var de *mapstructure.DecodeError
		if !errors.As(e, &de) {
			errs = append(errs, fmt.Errorf("config: %w", e))
			continue
		}
		key, _, _ := strings.Cut(de.Name(), "[") // "kafka_brokers[1]" is an item of a list
		if s, ok := byKey[key]; ok {
			errs = append(errs, fmt.Errorf("config: %w", &FieldError{Key: key, Err: fmt.Errorf("%w, set in %s", de.Unwrap(), origin(s, fs, v, path))}))
			continue
		}
		// The only other complaint is about unknown keys, which only a file
		// can bring; AllKeys names them to the leaf.
		var unknown []string
		for _, k := range v.AllKeys() {
			if _, ok := byKey[k]; ok {
				continue
			}
			if flat := strings.ReplaceAll(k, ".", "_"); byKey[flat].key != "" {
				k = fmt.Sprintf("%s (keys are flat: write %s)", k, flat)
			}
			unknown = append(unknown, k)
		}
		slices.Sort(unknown)
		errs = append(errs, fmt.Errorf("config: config file %s: unknown key %s", path, strings.Join(unknown, ", ")))
	}
	return errors.Join(errs...)
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

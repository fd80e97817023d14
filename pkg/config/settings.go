package config

import (
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// setting is one configurable field found in a config struct.
type setting struct {
	key, help string
	secret    bool
	field     reflect.Value // settable field inside the caller's struct
}

// env is the setting's environment variable. It is derived rather than tagged so
// that a key, its variable and its flag can never drift apart.
func (s setting) env() string { return envName(s.key) }

// flag is the setting's flag name without the leading dashes.
func (s setting) flag() string { return strings.ReplaceAll(s.key, "_", "-") }

func envName(key string) string { return strings.ToUpper(key) }

// value is the field's value for usage and logs; a secret shows "***", or ""
// when unset, so a log still shows whether it was provided.
func (s setting) value() any {
	if v := s.field.Interface(); !s.secret || format(v) == "" {
		return v
	}
	return "***"
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	keyPattern   = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
)

// reservedKeys would collide with the flags and variable Load itself defines.
var reservedKeys = map[string]string{"config": "--config", "config_file": ConfigFileEnv, "help": "--help"}

// typeName is what usage shows after a flag, e.g. "--http-addr string"; ""
// marks a type Load does not support. The set is closed so that the decode
// hook can parse every source with one set of messages.
func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "list"
	}
	return map[reflect.Kind]string{reflect.String: "string", reflect.Int: "int", reflect.Bool: "bool", reflect.Float64: "float"}[t.Kind()]
}

// settings lists the configurable fields of cfg, which must be a non-nil
// pointer to a struct. Mistakes in the struct are reported here, at the first
// Load, so that a forgotten tag fails every test and every start rather than
// silently leaving a field unconfigurable.
func settings(cfg any) ([]setting, error) {
	rv := reflect.ValueOf(cfg)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: want a non-nil pointer to a struct, got %T", cfg)
	}
	var list []setting
	seen := make(map[string]string) // key -> Go path of the field that declared it
	// walk flattens nested structs into one list. A struct field is a section:
	// its own `config` tag, if any, prefixes its keys ("kafka" + "brokers" =
	// "kafka_brokers"), and without one its keys are used as they are, so a
	// shared section can be embedded in every service's config unchanged.
	var walk func(v reflect.Value, prefix, path string) error
	walk = func(v reflect.Value, prefix, path string) error {
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			tag, tagged := sf.Tag.Lookup("config")
			section := sf.Type.Kind() == reflect.Struct
			embeddedSection := section && sf.Anonymous
			fieldPath := strings.TrimPrefix(path+"."+sf.Name, ".")
			key := prefix + tag
			switch {
			case tag == "-":
			case !sf.IsExported() && !embeddedSection:
				if tagged {
					return fmt.Errorf("config: %s is tagged but unexported", fieldPath)
				}
			case section && tag != "" && !keyPattern.MatchString(tag):
				return fmt.Errorf("config: %s: section prefix %q must be snake_case", fieldPath, tag)
			case section:
				if tag != "" {
					key += "_"
				}
				before := len(list)
				if err := walk(v.Field(i), key, fieldPath); err != nil {
					return err
				}
				if len(list) == before {
					return fmt.Errorf("config: section %s has no configurable fields; tag it `config:\"-\"` to leave it out", fieldPath)
				}
			case tag == "":
				return fmt.Errorf("config: %s has no config tag; add `config:\"key\"`, or `config:\"-\"` to leave it out", fieldPath)
			case !keyPattern.MatchString(key):
				return fmt.Errorf("config: %s: key %q must be snake_case (lower-case letters, digits and single underscores)", fieldPath, key)
			case reservedKeys[key] != "":
				return fmt.Errorf("config: %s: key %q is reserved (it would clash with %s)", fieldPath, key, reservedKeys[key])
			case seen[key] != "":
				return fmt.Errorf("config: key %q is declared twice, by %s and %s", key, seen[key], fieldPath)
			case typeName(sf.Type) == "":
				return fmt.Errorf("config: %s: unsupported type %s (want string, int, bool, float64, time.Duration or []string)", fieldPath, sf.Type)
			default:
				seen[key] = fieldPath
				list = append(list, setting{key: key, help: sf.Tag.Get("help"), secret: sf.Tag.Get("secret") == "true", field: v.Field(i)})
			}
		}
		return nil
	}
	if err := walk(rv.Elem(), "", ""); err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("config: %T has no fields tagged `config:\"key\"`", cfg)
	}
	return list, nil
}

// Field describes one setting of a config struct and its current value.
type Field struct {
	Key    string // key in a config file, e.g. "kafka_brokers"
	Env    string // environment variable, e.g. "KAFKA_BROKERS"
	Flag   string // command-line flag, e.g. "--kafka-brokers"
	Help   string // the field's help tag
	Secret bool   // tagged secret:"true"; Value is masked
	// Value is the field's value; for a secret it is "***", or "" when
	// unset, so a log still shows whether a secret was provided.
	Value any
}

// Fields lists the settings of cfg, a pointer to a config struct, in
// declaration order with secrets masked. It fails only on a struct that Load
// would also reject.
func Fields(cfg any) ([]Field, error) {
	settings, err := settings(cfg)
	if err != nil {
		return nil, err
	}
	fields := make([]Field, len(settings))
	for i, s := range settings {
		fields[i] = Field{Key: s.key, Env: s.env(), Flag: "--" + s.flag(), Help: s.help, Secret: s.secret, Value: s.value()}
	}
	return fields, nil
}

// Describe returns cfg's settings as key -> value with secrets masked, ready
// to log at start: log.Info("config", zap.Any("config", config.Describe(&cfg))).
// Durations are rendered as text ("5s") because a log encoder would otherwise
// print nanoseconds.
//
// Describe panics if cfg is not a config struct Load accepts; call it after a
// successful Load, which reports the same problems as an error.
func Describe(cfg any) map[string]any {
	fields, err := Fields(cfg)
	if err != nil {
		panic(fmt.Sprintf("config.Describe: %v", err))
	}
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if d, ok := f.Value.(time.Duration); ok {
			f.Value = d.String()
		}
		out[f.Key] = f.Value
	}
	return out
}

// writeUsage prints every setting with all three ways to set it. pflag's own
// usage knows only flags; an operator writing a compose file or a Kubernetes
// manifest needs the env name and the file key just as much.
func writeUsage(w io.Writer, name string, settings []setting) {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s [flags]\n\n", name)
	b.WriteString("Each setting is taken from, in rising precedence: its default, the config\n")
	fmt.Fprintf(&b, "file (--config or %s; %s), the environment, a flag.\n", ConfigFileEnv, strings.Join(fileExts, ", "))
	b.WriteString("Lists are comma-separated in the environment and in flags.\n\n")
	fmt.Fprintf(&b, "  --config path\n        config file to read (env %s)\n", ConfigFileEnv)
	b.WriteString("  -h, --help\n        print this help and exit\n")
	for _, s := range settings {
		kind := typeName(s.field.Type())
		fmt.Fprintf(&b, "  --%s %s\n", s.flag(), kind)
		if s.help != "" {
			fmt.Fprintf(&b, "        %s\n", s.help)
		}
		def := format(s.value())
		if s.secret || kind == "string" || kind == "list" {
			def = fmt.Sprintf("%q", def) // quoted so an empty default is visible
		}
		fmt.Fprintf(&b, "        key %s, env %s, default %s\n", s.key, s.env(), def)
	}
	_, _ = io.WriteString(w, b.String())
}

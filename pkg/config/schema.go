package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// kind is the set of Go types a setting may have. Keeping it closed lets every
// source (file, env, flag) be parsed by one function with one set of messages.
type kind int

const (
	kindString kind = iota
	kindInt
	kindBool
	kindFloat
	kindDuration
	kindList
)

// typeName is what usage shows after a flag, e.g. "--http-addr string".
func (k kind) typeName() string {
	switch k {
	case kindInt:
		return "int"
	case kindBool:
		return "bool"
	case kindFloat:
		return "float"
	case kindDuration:
		return "duration"
	case kindList:
		return "list"
	default:
		return "string"
	}
}

// setting is one configurable field found in a config struct.
type setting struct {
	key    string
	help   string
	secret bool
	kind   kind
	field  reflect.Value // settable field inside the caller's struct
}

// env is the setting's environment variable. It is derived rather than tagged so
// that a key, its variable and its flag can never drift apart.
func (s setting) env() string { return envName(s.key) }

// flag is the setting's flag name without the leading dashes.
func (s setting) flag() string { return strings.ReplaceAll(s.key, "_", "-") }

func envName(key string) string { return strings.ToUpper(key) }

// current returns the field's value as one of the plain types convert produces,
// so a named type such as `type Format string` does not leak into viper.
func (s setting) current() any {
	v := s.field
	switch s.kind {
	case kindInt:
		return int(v.Int())
	case kindBool:
		return v.Bool()
	case kindFloat:
		return v.Float()
	case kindDuration:
		return time.Duration(v.Int())
	case kindList:
		list := make([]string, v.Len())
		for i := range list {
			list[i] = v.Index(i).String()
		}
		return list
	default:
		return v.String()
	}
}

// set stores a value produced by convert for this setting's kind.
func (s setting) set(value any) {
	if list, ok := value.([]string); ok {
		// Element by element, because a []string does not convert to a
		// slice of a named string type such as []Broker.
		v := reflect.MakeSlice(s.field.Type(), len(list), len(list))
		for i, item := range list {
			v.Index(i).SetString(item)
		}
		s.field.Set(v)
		return
	}
	s.field.Set(reflect.ValueOf(value).Convert(s.field.Type()))
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	keyPattern   = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
)

// reservedKeys would collide with the flags and variable Load itself defines.
var reservedKeys = map[string]string{
	"config":      "--config",
	"config_file": "CONFIG_FILE",
	"help":        "--help",
}

func kindOf(t reflect.Type) (kind, bool) {
	switch {
	case t == durationType:
		return kindDuration, true
	case t.Kind() == reflect.String:
		return kindString, true
	case t.Kind() == reflect.Int:
		return kindInt, true
	case t.Kind() == reflect.Bool:
		return kindBool, true
	case t.Kind() == reflect.Float64:
		return kindFloat, true
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return kindList, true
	}
	return 0, false
}

// settings lists the configurable fields of cfg, which must be a non-nil pointer
// to a struct. Mistakes in the struct are reported here, at the first Load, so
// that a forgotten tag fails every test and every start rather than silently
// leaving a field unconfigurable.
func settings(cfg any) ([]setting, error) {
	rv := reflect.ValueOf(cfg)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: want a non-nil pointer to a struct, got %T", cfg)
	}
	w := walker{seen: make(map[string]string)}
	root := rv.Elem()
	if err := w.walk(root, "", ""); err != nil {
		return nil, err
	}
	if len(w.settings) == 0 {
		return nil, fmt.Errorf("config: %T has no fields tagged `config:\"key\"`", cfg)
	}
	return w.settings, nil
}

type walker struct {
	settings []setting
	seen     map[string]string // key -> Go path of the field that declared it
}

// walk flattens nested structs into one list of keys. A struct field is a
// section: its own `config` tag, if any, prefixes its keys ("kafka" + "brokers"
// = "kafka_brokers"), and without one its keys are used as they are, so a
// shared section can be embedded in every service's config unchanged.
func (w *walker) walk(v reflect.Value, prefix, path string) error {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, tagged := sf.Tag.Lookup("config")
		if tag == "-" {
			continue
		}
		fieldPath := sf.Name
		if path != "" {
			fieldPath = path + "." + sf.Name
		}

		if sf.Type.Kind() == reflect.Struct && sf.Type != durationType {
			if !sf.IsExported() && !sf.Anonymous {
				if tagged {
					return fmt.Errorf("config: %s is tagged but unexported", fieldPath)
				}
				continue
			}
			sectionPrefix := prefix
			if tag != "" {
				if !keyPattern.MatchString(tag) {
					return fmt.Errorf("config: %s: section prefix %q must be snake_case", fieldPath, tag)
				}
				sectionPrefix = prefix + tag + "_"
			}
			before := len(w.settings)
			if err := w.walk(v.Field(i), sectionPrefix, fieldPath); err != nil {
				return err
			}
			if len(w.settings) == before {
				return fmt.Errorf("config: section %s has no configurable fields; tag it `config:\"-\"` to leave it out", fieldPath)
			}
			continue
		}

		if !sf.IsExported() {
			if tagged {
				return fmt.Errorf("config: %s is tagged but unexported", fieldPath)
			}
			continue
		}
		if tag == "" {
			return fmt.Errorf("config: %s has no config tag; add `config:\"key\"`, or `config:\"-\"` to leave it out", fieldPath)
		}
		key := prefix + tag
		if !keyPattern.MatchString(key) {
			return fmt.Errorf("config: %s: key %q must be snake_case (lower-case letters, digits and single underscores)", fieldPath, key)
		}
		if name, ok := reservedKeys[key]; ok {
			return fmt.Errorf("config: %s: key %q is reserved (it would clash with %s)", fieldPath, key, name)
		}
		if other, ok := w.seen[key]; ok {
			return fmt.Errorf("config: key %q is declared twice, by %s and %s", key, other, fieldPath)
		}
		k, ok := kindOf(sf.Type)
		if !ok {
			return fmt.Errorf("config: %s: unsupported type %s (want string, int, bool, float64, time.Duration or []string)", fieldPath, sf.Type)
		}
		w.seen[key] = fieldPath
		w.settings = append(w.settings, setting{
			key:    key,
			help:   sf.Tag.Get("help"),
			secret: sf.Tag.Get("secret") == "true",
			kind:   k,
			field:  v.Field(i),
		})
	}
	return nil
}

package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// parse is the mapstructure decode hook every value goes through, so a setting
// means the same wherever it came from. Text, from the environment and flags,
// is parsed here with messages that show it; a file's typed values are checked
// where mapstructure would guess.
func parse(_, to reflect.Type, data any) (any, error) {
	text, isText := data.(string)
	trimmed := strings.TrimSpace(text)
	switch {
	case to == durationType && isText:
		d, err := time.ParseDuration(trimmed)
		if err != nil {
			return nil, fmt.Errorf("invalid duration %q (want e.g. 500ms, 5s, 1m)", text)
		}
		return d, nil
	case to == durationType:
		switch data.(type) {
		case int, int64, float64: // YAML, TOML and JSON numbers
			// A bare number is ambiguous (seconds? milliseconds?), so refuse
			// it instead of taking nanoseconds as mapstructure would.
			return nil, fmt.Errorf("invalid duration %v: give a unit, e.g. \"%vs\"", data, data)
		}
	case to.Kind() == reflect.Slice && isText:
		return splitList(text), nil
	case to.Kind() == reflect.String:
		switch data.(type) {
		case int, int64, float64, bool:
			// A YAML file may say `port: 8080` for a string setting; that is
			// clearly meant as text, so accept it rather than nitpick.
			return fmt.Sprint(data), nil
		}
	case to.Kind() == reflect.Int && isText:
		n, err := strconv.Atoi(trimmed)
		if err != nil {
			return nil, fmt.Errorf("invalid integer %q", text)
		}
		return n, nil
	case to.Kind() == reflect.Int:
		if f, ok := data.(float64); ok && (f != math.Trunc(f) || math.IsInf(f, 0)) { // JSON numbers
			return nil, fmt.Errorf("invalid integer %v", f)
		}
	case to.Kind() == reflect.Bool && isText:
		b, err := strconv.ParseBool(trimmed)
		if err != nil {
			return nil, fmt.Errorf("invalid boolean %q (want true or false)", text)
		}
		return b, nil
	case to.Kind() == reflect.Float64:
		if isText {
			f, err := strconv.ParseFloat(trimmed, 64)
			if err != nil {
				return nil, fmt.Errorf("invalid number %q", text)
			}
			data = f
		}
		// ParseFloat accepts "NaN" and "Inf"; no setting of ours means either.
		if f, ok := data.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return nil, fmt.Errorf("invalid number %v (must be finite)", f)
		}
	}
	return data, nil
}

// splitList reads "a:1, b:2" as [a:1 b:2]. Empty items are dropped so that a
// trailing comma, easy to leave in an env file, does not add an empty broker.
func splitList(s string) []string {
	list := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			list = append(list, item)
		}
	}
	return list
}

// format renders a value the way a user would type it, for usage and logs.
func format(v any) string {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		items := make([]string, rv.Len())
		for i := range items {
			items[i] = fmt.Sprint(rv.Index(i))
		}
		return strings.Join(items, ",")
	}
	return fmt.Sprint(v)
}

// flagValue is the pflag.Value behind every setting's flag. Set parses with
// the decode hook, so a bad flag fails with pflag's message naming the flag,
// and String gives viper the parsed value back as plain text.
type flagValue struct {
	typ   reflect.Type
	value any // nil until set
}

func (f *flagValue) String() string {
	if f.value == nil {
		return ""
	}
	return format(f.value)
}

func (f *flagValue) Type() string { return typeName(f.typ) }

func (f *flagValue) Set(s string) error {
	v, err := parse(nil, f.typ, s)
	if err != nil {
		return err
	}
	// Repeating a list flag adds to it (--kafka-brokers a --kafka-brokers b),
	// as with pflag's own slice flags; the first use replaces the default.
	if list, ok := f.value.([]string); ok {
		v = append(list, v.([]string)...)
	}
	f.value = v
	return nil
}

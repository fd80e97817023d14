package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// convert turns a raw value from any source into the Go type of k. Values
// arrive as strings from env and flags, as typed values from a YAML, JSON or
// TOML file, and as Go values from the defaults; all go through here so a
// setting means the same thing wherever it came from.
func convert(k kind, raw any) (any, error) {
	switch k {
	case kindString:
		return toString(raw)
	case kindInt:
		return toInt(raw)
	case kindBool:
		return toBool(raw)
	case kindFloat:
		return toFloat(raw)
	case kindDuration:
		return toDuration(raw)
	case kindList:
		return toList(raw)
	}
	return nil, fmt.Errorf("unknown kind %d", k)
}

func toString(raw any) (string, error) {
	switch v := raw.(type) {
	case string:
		return v, nil
	case int, int64, float64, bool:
		// A YAML file may say `port: 8080` for a string setting; that is
		// clearly meant as text, so accept it rather than nitpick.
		return fmt.Sprint(v), nil
	}
	return "", fmt.Errorf("want a string, got %s", describe(raw))
}

func toInt(raw any) (int, error) {
	switch v := raw.(type) {
	case int:
		return v, nil
	case int64: // TOML integers
		return int(v), nil
	case float64: // JSON numbers
		if v != math.Trunc(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("invalid integer %v", v)
		}
		return int(v), nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("invalid integer %q", v)
		}
		return n, nil
	}
	return 0, fmt.Errorf("want an integer, got %s", describe(raw))
}

func toBool(raw any) (bool, error) {
	switch v := raw.(type) {
	case bool:
		return v, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return false, fmt.Errorf("invalid boolean %q (want true or false)", v)
		}
		return b, nil
	}
	return false, fmt.Errorf("want true or false, got %s", describe(raw))
}

func toFloat(raw any) (float64, error) {
	var f float64
	switch v := raw.(type) {
	case float64:
		f = v
	case int:
		f = float64(v)
	case int64:
		f = float64(v)
	case string:
		parsed, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, fmt.Errorf("invalid number %q", v)
		}
		f = parsed
	default:
		return 0, fmt.Errorf("want a number, got %s", describe(raw))
	}
	// ParseFloat accepts "NaN" and "Inf"; no setting of ours means either.
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid number %v (must be finite)", raw)
	}
	return f, nil
}

func toDuration(raw any) (time.Duration, error) {
	switch v := raw.(type) {
	case time.Duration:
		return v, nil
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q (want e.g. 500ms, 5s, 1m)", v)
		}
		return d, nil
	case int, int64, float64:
		// A bare number is ambiguous (seconds? milliseconds?), so refuse it
		// instead of guessing nanoseconds as some libraries do.
		return 0, fmt.Errorf("invalid duration %v: give a unit, e.g. \"%vs\"", v, v)
	}
	return 0, fmt.Errorf("want a duration such as \"5s\", got %s", describe(raw))
}

func toList(raw any) ([]string, error) {
	switch v := raw.(type) {
	case []string:
		return append([]string{}, v...), nil
	case string:
		return splitList(v), nil
	case []any: // a YAML, JSON or TOML list
		list := make([]string, 0, len(v))
		for i, item := range v {
			s, err := toString(item)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			list = append(list, s)
		}
		return list, nil
	}
	return nil, fmt.Errorf("want a list or a comma-separated string, got %s", describe(raw))
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

func describe(raw any) string {
	switch raw.(type) {
	case map[string]any:
		return "a nested table (keys are flat: write section_key, not section.key)"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%v (%T)", raw, raw)
}

// format renders a value the way a user would type it, for usage and logs.
func format(v any) string {
	switch v := v.(type) {
	case []string:
		return strings.Join(v, ",")
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// flagValue is the pflag.Value behind every setting's flag. It validates on
// Set, so a bad flag fails with pflag's message naming the flag, and otherwise
// keeps the text as typed: viper hands it back from Get and convert parses it
// like any other source.
type flagValue struct {
	kind kind
	text string
	set  bool
}

func (f *flagValue) String() string { return f.text }

func (f *flagValue) Type() string { return f.kind.typeName() }

func (f *flagValue) Set(s string) error {
	if _, err := convert(f.kind, s); err != nil {
		return err
	}
	// Repeating a list flag adds to it (--kafka-brokers a --kafka-brokers b),
	// as with pflag's own slice flags; the first use replaces the default.
	if f.kind == kindList && f.set {
		f.text += "," + s
	} else {
		f.text = s
	}
	f.set = true
	return nil
}

package config

import (
	"fmt"
	"time"
)

// Field describes one setting of a config struct and its current value.
type Field struct {
	Key    string // key in a config file, e.g. "kafka_brokers"
	Env    string // environment variable, e.g. "KAFKA_BROKERS"
	Flag   string // command-line flag, e.g. "--kafka-brokers"
	Help   string // the field's help tag
	Secret bool   // tagged secret:"true"; Value is masked
	// Value is the field's value as a string, int, bool, float64,
	// time.Duration or []string; for a secret it is "***", or "" when unset,
	// so a log still shows whether a secret was provided.
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
		value := s.current()
		if s.secret {
			value = mask(value)
		}
		fields[i] = Field{
			Key:    s.key,
			Env:    s.env(),
			Flag:   "--" + s.flag(),
			Help:   s.help,
			Secret: s.secret,
			Value:  value,
		}
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
			out[f.Key] = d.String()
			continue
		}
		out[f.Key] = f.Value
	}
	return out
}

func mask(value any) string {
	if format(value) == "" {
		return ""
	}
	return "***"
}

package config_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/eventshop/eventshop/pkg/config"
)

// TestMain clears the variables these tests read, so a developer's shell (or
// CI's, which may well set KAFKA_BROKERS) cannot change their outcome; tests
// that need a variable set it with t.Setenv.
func TestMain(m *testing.M) {
	if err := clearEnv(); err != nil {
		fmt.Fprintln(os.Stderr, "config tests:", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

func clearEnv() error {
	names := []string{config.ConfigFileEnv}
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "SHOP_") {
			names = append(names, name)
		}
	}
	for _, cfg := range []any{&OrderConfig{}} {
		fields, err := config.Fields(cfg)
		if err != nil {
			return err
		}
		for _, f := range fields {
			names = append(names, f.Env)
		}
	}
	var errs []error
	for _, name := range names {
		if err := os.Unsetenv(name); err != nil {
			errs = append(errs, fmt.Errorf("unset %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

type busSection struct {
	Brokers []string `config:"brokers" help:"bootstrap brokers"`
}

type shopConfig struct {
	Name     string        `config:"shop_name" help:"display name"`
	Workers  int           `config:"shop_workers" help:"number of workers"`
	Interval time.Duration `config:"shop_interval" help:"time between ticks"`
	Peers    []string      `config:"shop_peers" help:"comma-separated peers"`
	Ratio    float64       `config:"shop_ratio" help:"sampling ratio"`
	Verbose  bool          `config:"shop_verbose" help:"log more"`
	Token    string        `config:"shop_token" help:"API token" secret:"true"`
	Bus      busSection    `config:"shop_bus"`
	Computed string        `config:"-"`
}

func defaults() shopConfig {
	return shopConfig{
		Name:     "eventshop",
		Workers:  2,
		Interval: 5 * time.Second,
		Peers:    []string{"localhost:1"},
		Ratio:    0.5,
		Bus:      busSection{Brokers: []string{"localhost:9092"}},
		Computed: "untouched",
	}
}

// validatedShop embeds shopConfig as an untagged section, the way a service
// embeds a shared section, and adds a Validate method.
type validatedShop struct {
	shopConfig
}

func (c *validatedShop) Validate() error {
	if c.Workers < 1 {
		return config.Errorf("shop_workers", "must be at least 1, got %d", c.Workers)
	}
	return nil
}

// writeFile writes content to a file named name in a fresh temp dir and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func load(t *testing.T, args ...string) (shopConfig, error) {
	t.Helper()
	cfg := defaults()
	err := config.Load("shop", args, &cfg, config.WithUsageOutput(io.Discard))
	return cfg, err
}

func TestLoadPrecedence(t *testing.T) {
	// Each layer sets shop_name and shop_workers; a layer below the top one
	// sets only shop_workers, so each case shows both "wins" and "falls through".
	const file = "shop_name: from-file\nshop_workers: 3\n"

	tests := []struct {
		name        string
		file        bool
		env         map[string]string
		args        []string
		wantName    string
		wantWorkers int
	}{
		{name: "defaults only", wantName: "eventshop", wantWorkers: 2},
		{name: "file overrides default", file: true, wantName: "from-file", wantWorkers: 3},
		{
			name:     "env overrides file",
			file:     true,
			env:      map[string]string{"SHOP_NAME": "from-env"},
			wantName: "from-env", wantWorkers: 3,
		},
		{
			name:     "flag overrides env",
			file:     true,
			env:      map[string]string{"SHOP_NAME": "from-env", "SHOP_WORKERS": "4"},
			args:     []string{"--shop-name", "from-flag"},
			wantName: "from-flag", wantWorkers: 4,
		},
		{
			name:     "empty env var counts as unset",
			file:     true,
			env:      map[string]string{"SHOP_NAME": ""},
			wantName: "from-file", wantWorkers: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := tt.args
			if tt.file {
				args = append([]string{"--config", writeFile(t, "shop.yaml", file)}, args...)
			}
			got, err := load(t, args...)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got.Name != tt.wantName || got.Workers != tt.wantWorkers {
				t.Errorf("got name %q workers %d, want %q and %d", got.Name, got.Workers, tt.wantName, tt.wantWorkers)
			}
			want := defaults()
			want.Name, want.Workers = tt.wantName, tt.wantWorkers
			if !reflect.DeepEqual(got, want) {
				t.Errorf("other fields changed:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadConfigFileFromEnv(t *testing.T) {
	t.Setenv(config.ConfigFileEnv, writeFile(t, "shop.yaml", "shop_name: from-env-file\n"))

	got, err := load(t)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.Name != "from-env-file" {
		t.Errorf("Name = %q, want the value from the file named by %s", got.Name, config.ConfigFileEnv)
	}

	// The flag names a different file and wins over the variable.
	got, err = load(t, "--config", writeFile(t, "other.yaml", "shop_name: from-flag-file\n"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.Name != "from-flag-file" {
		t.Errorf("Name = %q, want the value from the --config file", got.Name)
	}
}

func TestLoadFileFormats(t *testing.T) {
	t.Parallel()
	want := defaults()
	want.Name = "file"
	want.Workers = 7
	want.Interval = 1500 * time.Millisecond
	want.Peers = []string{"a:1", "b:2"}
	want.Ratio = 0.25
	want.Verbose = true
	want.Bus.Brokers = []string{"k1:9092", "k2:9092"}

	tests := []struct {
		file    string
		content string
	}{
		{"shop.yaml", `
shop_name: file
shop_workers: 7
shop_interval: 1.5s
shop_peers: [a:1, b:2]
shop_ratio: 0.25
shop_verbose: true
shop_bus_brokers: k1:9092,k2:9092
`},
		{"shop.json", `{
  "shop_name": "file", "shop_workers": 7, "shop_interval": "1.5s",
  "shop_peers": ["a:1", "b:2"], "shop_ratio": 0.25, "shop_verbose": true,
  "shop_bus_brokers": ["k1:9092", "k2:9092"]
}`},
		{"shop.toml", `
shop_name = "file"
shop_workers = 7
shop_interval = "1.5s"
shop_peers = ["a:1", "b:2"]
shop_ratio = 0.25
shop_verbose = true
shop_bus_brokers = ["k1:9092", "k2:9092"]
`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got, err := load(t, "--config", writeFile(t, tt.file, tt.content))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadParsesFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want func(*shopConfig)
	}{
		{
			name: "comma-separated list",
			args: []string{"--shop-peers", "a:1, b:2,"},
			want: func(c *shopConfig) { c.Peers = []string{"a:1", "b:2"} },
		},
		{
			name: "repeated list flag appends",
			args: []string{"--shop-bus-brokers=a:1", "--shop-bus-brokers", "b:2,c:3"},
			want: func(c *shopConfig) { c.Bus.Brokers = []string{"a:1", "b:2", "c:3"} },
		},
		{
			name: "duration",
			args: []string{"--shop-interval", "250ms"},
			want: func(c *shopConfig) { c.Interval = 250 * time.Millisecond },
		},
		{
			name: "bare bool flag",
			args: []string{"--shop-verbose"},
			want: func(c *shopConfig) { c.Verbose = true },
		},
		{
			// viper reads an int flag's text with base prefixes ("010" is
			// 8), so the flag must hand it the parsed value, read as the
			// environment's is: decimal, spaces trimmed.
			name: "int with spaces and a leading zero",
			args: []string{"--shop-workers= 010"},
			want: func(c *shopConfig) { c.Workers = 10 },
		},
		{
			name: "float and int",
			args: []string{"--shop-ratio=0.125", "--shop-workers=9"},
			want: func(c *shopConfig) { c.Ratio, c.Workers = 0.125, 9 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := load(t, tt.args...)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := defaults()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadParsesEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(*shopConfig)
	}{
		{
			name: "comma-separated list",
			env:  map[string]string{"SHOP_BUS_BROKERS": "a:1, b:2,"},
			want: func(c *shopConfig) { c.Bus.Brokers = []string{"a:1", "b:2"} },
		},
		{
			name: "duration",
			env:  map[string]string{"SHOP_INTERVAL": "1m30s"},
			want: func(c *shopConfig) { c.Interval = 90 * time.Second },
		},
		{
			name: "bool, float and int",
			env:  map[string]string{"SHOP_VERBOSE": "true", "SHOP_RATIO": "1e-3", "SHOP_WORKERS": "12"},
			want: func(c *shopConfig) { c.Verbose, c.Ratio, c.Workers = true, 0.001, 12 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := load(t)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := defaults()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadReportsBadValues(t *testing.T) {
	const typo = "shop_nmae" //nolint:misspell // a mistyped shop_name is the input under test
	tests := []struct {
		name string
		env  map[string]string
		file string // YAML content; empty for no file
		args []string
		// wantKeys are the keys the returned *FieldErrors must name.
		wantKeys []string
		wantText []string
	}{
		{
			name:     "invalid duration in env",
			env:      map[string]string{"SHOP_INTERVAL": "abc"},
			wantKeys: []string{"shop_interval"},
			wantText: []string{`config: shop_interval (SHOP_INTERVAL): invalid duration "abc"`, "set in the environment"},
		},
		{
			name:     "invalid int in config file",
			file:     "shop_workers: many\n",
			wantKeys: []string{"shop_workers"},
			wantText: []string{`shop_workers (SHOP_WORKERS): invalid integer "many"`, "set in config file"},
		},
		{
			name:     "duration without unit in config file",
			file:     "shop_interval: 5\n",
			wantKeys: []string{"shop_interval"},
			wantText: []string{"shop_interval (SHOP_INTERVAL): invalid duration 5", `"5s"`},
		},
		{
			name:     "every bad value is reported",
			env:      map[string]string{"SHOP_RATIO": "NaN", "SHOP_VERBOSE": "maybe"},
			wantKeys: []string{"shop_ratio", "shop_verbose"},
			wantText: []string{"shop_ratio (SHOP_RATIO): invalid number", `shop_verbose (SHOP_VERBOSE): invalid boolean "maybe"`},
		},
		{
			name:     "invalid duration flag",
			args:     []string{"--shop-interval", "abc"},
			wantText: []string{`"--shop-interval"`, `invalid duration "abc"`},
		},
		{
			name:     "unknown flag",
			args:     []string{"--no-such-flag"},
			wantText: []string{"unknown flag: --no-such-flag"},
		},
		{
			name:     "positional argument",
			args:     []string{"stray"},
			wantText: []string{`unexpected argument "stray"`},
		},
		{
			name:     "unknown key in config file",
			file:     typo + ": typo\n",
			wantText: []string{"unknown key " + typo},
		},
		{
			name:     "unknown key and bad value in one file",
			file:     "shop_workers: many\n" + typo + ": typo\n",
			wantKeys: []string{"shop_workers"},
			wantText: []string{`shop_workers (SHOP_WORKERS): invalid integer "many"`, "unknown key " + typo},
		},
		{
			name:     "nested key in config file",
			file:     "shop:\n  name: nested\n",
			wantText: []string{"unknown key shop.name (keys are flat: write shop_name)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeFile(t, "shop.yaml", tt.file)}, args...)
			}
			got, err := load(t, args...)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, text := range tt.wantText {
				if !strings.Contains(err.Error(), text) {
					t.Errorf("error %q does not contain %q", err, text)
				}
			}
			if keys := fieldErrorKeys(err); !reflect.DeepEqual(keys, tt.wantKeys) {
				t.Errorf("FieldError keys = %q, want %q", keys, tt.wantKeys)
			}
			if !reflect.DeepEqual(got, defaults()) {
				t.Errorf("failed Load changed the config: %+v", got)
			}
		})
	}
}

// fieldErrorKeys returns the keys of all *config.FieldError in err's tree.
func fieldErrorKeys(err error) []string {
	var keys []string
	var fe *config.FieldError
	if errors.As(err, &fe) {
		keys = append(keys, fe.Key)
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		keys = nil
		for _, e := range joined.Unwrap() {
			keys = append(keys, fieldErrorKeys(e)...)
		}
	}
	return keys
}

// TestLoadRefusesNumbersAsDurations checks every file format: YAML, TOML and
// JSON hand a bare number over as int, int64 and float64.
func TestLoadRefusesNumbersAsDurations(t *testing.T) {
	t.Parallel()
	for file, content := range map[string]string{
		"shop.yaml": "shop_interval: 5\n",
		"shop.toml": "shop_interval = 5\n",
		"shop.json": `{"shop_interval": 5}`,
	} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, "--config", writeFile(t, file, content))
			want := `shop_interval (SHOP_INTERVAL): invalid duration 5: give a unit, e.g. "5s", set in config file`
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Load = %v, want an error containing %q", err, want)
			}
		})
	}
}

func TestLoadConfigFileErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	tests := []struct {
		name     string
		path     string
		wantIs   error
		wantText string
	}{
		{name: "missing file", path: missing, wantIs: fs.ErrNotExist, wantText: missing},
		{name: "unsupported extension", path: writeFile(t, "shop.ini", "shop_name=x\n"), wantText: "unsupported extension"},
		{name: "malformed yaml", path: writeFile(t, "shop.yaml", "shop_name: [unclosed\n"), wantText: "shop.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, "--config", tt.path)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not contain %q", err, tt.wantText)
			}
		})
	}
}

func TestLoadHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"--help", "-h"} {
		t.Run(arg, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			cfg := defaults()
			cfg.Token = "s3cret"
			err := config.Load("shop", []string{arg}, &cfg, config.WithUsageOutput(&out))
			if !errors.Is(err, config.ErrHelp) || !errors.Is(err, pflag.ErrHelp) {
				t.Fatalf("Load(%s) = %v, want ErrHelp", arg, err)
			}

			usage := out.String()
			for _, want := range []string{
				"Usage: shop [flags]",
				"--config path", config.ConfigFileEnv,
				"--shop-name string\n        display name\n        key shop_name, env SHOP_NAME, default \"eventshop\"",
				"--shop-workers int\n        number of workers\n        key shop_workers, env SHOP_WORKERS, default 2",
				"--shop-interval duration", "key shop_interval, env SHOP_INTERVAL, default 5s",
				"--shop-peers list", "key shop_peers, env SHOP_PEERS, default \"localhost:1\"",
				"--shop-ratio float", "key shop_ratio, env SHOP_RATIO, default 0.5",
				"--shop-verbose bool", "key shop_verbose, env SHOP_VERBOSE, default false",
				"--shop-token string", "key shop_token, env SHOP_TOKEN, default \"***\"",
				"--shop-bus-brokers list", "key shop_bus_brokers, env SHOP_BUS_BROKERS, default \"localhost:9092\"",
			} {
				if !strings.Contains(usage, want) {
					t.Errorf("usage lacks %q:\n%s", want, usage)
				}
			}
			if strings.Contains(usage, "s3cret") {
				t.Errorf("usage shows the secret default:\n%s", usage)
			}
		})
	}
}

func TestLoadCallsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "valid", args: []string{"--shop-workers=1"}},
		{
			name:    "invalid",
			args:    []string{"--shop-workers=0"},
			wantErr: "invalid configuration: shop_workers (SHOP_WORKERS): must be at least 1, got 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := validatedShop{defaults()}
			err := config.Load("shop", tt.args, &cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("Load error = %v, want %q", err, tt.wantErr)
			}
			var fe *config.FieldError
			if !errors.As(err, &fe) || fe.Key != "shop_workers" {
				t.Errorf("error does not carry a FieldError for shop_workers: %#v", err)
			}
		})
	}
}

func TestLoadRejectsBadStructs(t *testing.T) {
	t.Parallel()
	var notAPointer shopConfig
	tests := []struct {
		name     string
		cfg      any
		wantText string
	}{
		{"not a pointer", notAPointer, "want a non-nil pointer to a struct"},
		{"nil pointer", (*shopConfig)(nil), "want a non-nil pointer to a struct"},
		{"untagged field", &struct{ Name string }{}, "Name has no config tag"},
		{"unsupported type", &struct {
			Port uint16 `config:"port"`
		}{}, "unsupported type uint16"},
		{"duplicate key", &struct {
			A string `config:"addr"`
			B string `config:"addr"`
		}{}, `key "addr" is declared twice`},
		{"reserved key", &struct {
			C string `config:"config"`
		}{}, `key "config" is reserved`},
		{"key not snake_case", &struct {
			A string `config:"httpAddr"`
		}{}, `key "httpAddr" must be snake_case`},
		{"empty section", &struct {
			A string `config:"a"`
			S struct{ x int }
		}{}, "section S has no configurable fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := config.Load("shop", nil, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Load error = %v, want one containing %q", err, tt.wantText)
			}
		})
	}
}

func TestFieldsMaskSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		token string
		want  any
	}{
		{name: "set secret is masked", token: "s3cret", want: "***"},
		{name: "unset secret stays empty", token: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := defaults()
			cfg.Token = tt.token
			fields, err := config.Fields(&cfg)
			if err != nil {
				t.Fatalf("Fields: %v", err)
			}
			var token config.Field
			for _, f := range fields {
				if f.Key == "shop_token" {
					token = f
				}
			}
			want := config.Field{Key: "shop_token", Env: "SHOP_TOKEN", Flag: "--shop-token", Help: "API token", Secret: true, Value: tt.want}
			if !reflect.DeepEqual(token, want) {
				t.Errorf("shop_token field = %+v, want %+v", token, want)
			}

			described := config.Describe(&cfg)
			if described["shop_token"] != tt.want {
				t.Errorf("Describe shop_token = %v, want %v", described["shop_token"], tt.want)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	cfg := defaults()
	got := config.Describe(&cfg)
	want := map[string]any{
		"shop_name":        "eventshop",
		"shop_workers":     2,
		"shop_interval":    "5s",
		"shop_peers":       []string{"localhost:1"},
		"shop_ratio":       0.5,
		"shop_verbose":     false,
		"shop_token":       "",
		"shop_bus_brokers": []string{"localhost:9092"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Describe =\n%v\nwant\n%v", got, want)
	}
}

func TestLoadNamedTypes(t *testing.T) {
	t.Parallel()
	type (
		format string
		broker string
	)
	type named struct {
		Format  format   `config:"shop_format"`
		Brokers []broker `config:"shop_brokers"`
	}
	cfg := named{Format: "console", Brokers: []broker{"localhost:9092"}}
	err := config.Load("shop", []string{"--shop-format=json", "--shop-brokers=a:1,b:2"}, &cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := named{Format: "json", Brokers: []broker{"a:1", "b:2"}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
}

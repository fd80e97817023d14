package config

import (
	"fmt"
	"io"
	"strings"
)

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
		fmt.Fprintf(&b, "  --%s %s\n", s.flag(), s.kind.typeName())
		if s.help != "" {
			fmt.Fprintf(&b, "        %s\n", s.help)
		}
		fmt.Fprintf(&b, "        key %s, env %s, default %s\n", s.key, s.env(), usageDefault(s))
	}
	_, _ = io.WriteString(w, b.String())
}

func usageDefault(s setting) string {
	text := format(s.current())
	if s.secret {
		text = mask(s.current())
	}
	switch {
	case s.secret, s.kind == kindString, s.kind == kindList:
		return fmt.Sprintf("%q", text) // quoted so an empty default is visible
	}
	return text
}

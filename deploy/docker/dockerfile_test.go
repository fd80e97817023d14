package docker_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// A Dockerfile, read just far enough to replay and check our own: stages,
// instructions, leading --flags, continuation lines and comments. Anything
// it does not know (heredocs, a different escape character) is an error, so
// a Dockerfile the tests cannot follow fails loudly instead of passing.

// instruction is one Dockerfile instruction with its continuation lines
// joined.
type instruction struct {
	Line  int      // where it starts, 1-based
	Cmd   string   // the keyword in upper case: FROM, RUN, COPY ...
	Flags []string // leading flags as written: --from=build
	Args  string   // the rest of the instruction
}

// flag returns the value of --name=value among the instruction's flags.
func (in instruction) flag(name string) (string, bool) {
	for _, f := range in.Flags {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// exec returns the arguments of an exec-form instruction: ["/bin", "arg"].
func (in instruction) exec() ([]string, error) {
	if !strings.HasPrefix(in.Args, "[") {
		return nil, fmt.Errorf("line %d: %s %s: want the exec form [\"...\"]", in.Line, in.Cmd, in.Args)
	}
	var args []string
	if err := json.Unmarshal([]byte(in.Args), &args); err != nil {
		return nil, fmt.Errorf("line %d: %s: %w", in.Line, in.Cmd, err)
	}
	return args, nil
}

// stage is one FROM and the instructions after it.
type stage struct {
	Image        string
	Name         string // the AS name, if any
	Line         int
	Instructions []instruction
}

// parseDockerfile splits src into stages.
func parseDockerfile(src string) ([]stage, error) {
	var stages []stage
	var cur *instruction
	var text strings.Builder

	add := func(in instruction) error {
		if in.Cmd == "FROM" {
			fields := strings.Fields(in.Args)
			st := stage{Line: in.Line}
			switch {
			case len(fields) == 1:
				st.Image = fields[0]
			case len(fields) == 3 && strings.EqualFold(fields[1], "AS"):
				st.Image, st.Name = fields[0], fields[2]
			default:
				return fmt.Errorf("line %d: FROM %s: want IMAGE [AS NAME]", in.Line, in.Args)
			}
			stages = append(stages, st)
			return nil
		}
		if len(stages) == 0 {
			return fmt.Errorf("line %d: %s before the first FROM", in.Line, in.Cmd)
		}
		last := &stages[len(stages)-1]
		last.Instructions = append(last.Instructions, in)
		return nil
	}

	for i, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			if cur == nil && len(stages) == 0 && strings.HasPrefix(strings.ToLower(strings.ReplaceAll(trimmed, " ", "")), "#escape=") {
				return nil, fmt.Errorf("line %d: the escape directive is not supported", i+1)
			}
			continue // comments end nothing, not even inside a continuation
		}
		if trimmed == "" {
			continue // blank lines, too, neither end nor break an instruction
		}
		if cur == nil {
			cur = &instruction{Line: i + 1}
			text.Reset()
		}
		body, continued := strings.CutSuffix(trimmed, `\`)
		text.WriteString(body)
		text.WriteByte(' ')
		if continued {
			continue
		}
		in, err := splitInstruction(*cur, text.String())
		if err != nil {
			return nil, err
		}
		if err := add(in); err != nil {
			return nil, err
		}
		cur = nil
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: the file ends inside a continued instruction", cur.Line)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	return stages, nil
}

// splitInstruction fills in the keyword, flags and arguments of in from its
// joined text.
func splitInstruction(in instruction, text string) (instruction, error) {
	cmd, rest, _ := strings.Cut(strings.TrimSpace(text), " ")
	in.Cmd = strings.ToUpper(cmd)
	rest = strings.TrimSpace(rest)
	for strings.HasPrefix(rest, "--") {
		var f string
		f, rest, _ = strings.Cut(rest, " ")
		in.Flags = append(in.Flags, f)
		rest = strings.TrimSpace(rest)
	}
	in.Args = strings.TrimSpace(rest)
	if strings.Contains(in.Args, "<<") {
		return in, fmt.Errorf("line %d: %s: heredocs are not supported", in.Line, in.Cmd)
	}
	return in, nil
}

func TestParseDockerfile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     string
		want    []stage
		wantErr string
	}{
		{
			name: "stages, flags and a continued RUN with a comment inside",
			src: `# syntax=docker/dockerfile:1
FROM golang:1.27.3 AS build
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/root/.cache/go-build \
    # the comment line is dropped
    go build -o /out/app .

FROM scratch
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
`,
			want: []stage{
				{Image: "golang:1.27.3", Name: "build", Line: 2, Instructions: []instruction{
					{Line: 3, Cmd: "ENV", Args: "CGO_ENABLED=0"},
					{Line: 4, Cmd: "RUN", Flags: []string{"--mount=type=cache,target=/root/.cache/go-build"}, Args: "go build -o /out/app ."},
				}},
				{Image: "scratch", Line: 8, Instructions: []instruction{
					{Line: 9, Cmd: "COPY", Flags: []string{"--from=build"}, Args: "/out/app /app"},
					{Line: 10, Cmd: "ENTRYPOINT", Args: `["/app"]`},
				}},
			},
		},
		{
			name: "lower-case keywords and HEALTHCHECK options",
			src:  "from scratch\nhealthcheck --interval=5s \\\n  CMD [\"/app\", \"healthcheck\"]\n",
			want: []stage{{Image: "scratch", Line: 1, Instructions: []instruction{
				{Line: 2, Cmd: "HEALTHCHECK", Flags: []string{"--interval=5s"}, Args: `CMD ["/app", "healthcheck"]`},
			}}},
		},
		{name: "instruction before FROM", src: "RUN true\nFROM scratch\n", wantErr: "before the first FROM"},
		{name: "no FROM", src: "# nothing\n", wantErr: "no FROM"},
		{name: "escape directive", src: "# escape=`\nFROM scratch\n", wantErr: "escape"},
		{name: "heredoc", src: "FROM scratch\nRUN <<EOF\ntrue\nEOF\n", wantErr: "heredoc"},
		{name: "unterminated continuation", src: "FROM scratch\nRUN true \\\n", wantErr: "ends inside"},
		{name: "malformed FROM", src: "FROM a b\n", wantErr: "IMAGE [AS NAME]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseDockerfile(tt.src)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

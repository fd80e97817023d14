package docker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/solver/pb"
	"github.com/opencontainers/go-digest"
)

// dockerfile is a Dockerfile as BuildKit reads it: its parser and
// instructions packages, the ones `docker build` runs.
type dockerfile struct {
	stages  []instructions.Stage
	metaArg []instructions.ArgCommand // the ARGs before the first FROM
	escape  rune
}

// readDockerfile reads the Dockerfile at path: see parseDockerfile.
func readDockerfile(path string) (dockerfile, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return dockerfile{}, err
	}
	return parseDockerfile(path, src)
}

// parseDockerfile parses src, named name, after BuildKit's Dockerfile
// linter, which `docker build --check` runs, found nothing to warn about.
func parseDockerfile(name string, src []byte) (dockerfile, error) {
	if err := lintDockerfile(name, src); err != nil {
		return dockerfile{}, err
	}
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return dockerfile{}, fmt.Errorf("%s: %w", name, err)
	}
	stages, metaArg, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return dockerfile{}, fmt.Errorf("%s: %w", name, err)
	}
	return dockerfile{stages: stages, metaArg: metaArg, escape: res.EscapeToken}, nil
}

// lintDockerfile runs dockerfile2llb.DockerfileLint, what `docker build
// --check` runs, and returns its build error and every warning it makes.
func lintDockerfile(name string, src []byte) error {
	smap := llb.NewSourceMap(nil, name, "Dockerfile", src)
	smap.Definition = &llb.Definition{} // the results name it; there is no build graph to point at
	res, err := dockerfile2llb.DockerfileLint(context.Background(), src, dockerfile2llb.ConvertOpt{
		SourceMap:    smap,
		MetaResolver: offlineImages{},
	})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var errs []error
	if res.Error != nil {
		errs = append(errs, fmt.Errorf("%s:%d: %s", name, firstLine(res.Error.Location.Ranges), res.Error.Message))
	}
	for _, w := range res.Warnings {
		line := 0
		if w.Location != nil {
			line = firstLine(w.Location.Ranges)
		}
		errs = append(errs, fmt.Errorf("%s:%d: %s: %s (%s)", name, line, w.RuleName, w.Detail, w.URL))
	}
	return errors.Join(errs...)
}

// firstLine returns the line a location in lint results starts on.
func firstLine(ranges []*pb.Range) int {
	if len(ranges) == 0 {
		return 0
	}
	return int(ranges[0].GetStart().GetLine())
}

// lineOf returns the line a parsed stage or command starts on.
func lineOf(ranges []parser.Range) int {
	if len(ranges) == 0 {
		return 0
	}
	return ranges[0].Start.Line
}

// offlineImages answers the linter's questions about base images without a
// registry: each exists, for the platform asked, with one layer and no
// environment of its own. Which images a Dockerfile may use is for the
// tests to check.
type offlineImages struct{}

func (offlineImages) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	config := map[string]any{"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest.FromString(ref).String()}}}
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		config["os"], config["architecture"] = opt.ImageOpt.Platform.OS, opt.ImageOpt.Platform.Architecture
	}
	data, err := json.Marshal(config)
	return ref, "", data, err
}

// outline writes a stage as the tests compare it: one line per stage and
// command, as BuildKit parsed them.
func (d dockerfile) outline() string {
	var b strings.Builder
	for _, st := range d.stages {
		fmt.Fprintf(&b, "FROM %s platform=%q name=%q line %d\n", st.BaseName, st.Platform, st.Name, lineOf(st.Location))
		for _, cmd := range st.Commands {
			fmt.Fprintf(&b, "  %s", strings.ToUpper(cmd.Name()))
			switch c := cmd.(type) {
			case *instructions.RunCommand:
				fmt.Fprintf(&b, " flags=%q cmd=%q heredocs=%d", c.FlagsUsed, c.CmdLine, len(c.Files))
			case *instructions.CopyCommand:
				fmt.Fprintf(&b, " from=%q %q -> %q", c.From, c.SourcePaths, c.DestPath)
			case *instructions.EntrypointCommand:
				fmt.Fprintf(&b, " %q shell=%t", c.CmdLine, c.PrependShell)
			case *instructions.HealthCheckCommand:
				fmt.Fprintf(&b, " %q interval=%s", c.Health.Test, c.Health.Interval)
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					fmt.Fprintf(&b, " %s", kv.String())
				}
			}
			fmt.Fprintf(&b, " line %d\n", lineOf(cmd.Location()))
		}
	}
	return b.String()
}

// TestParseDockerfile shows what the tests get from BuildKit for the forms
// our Dockerfiles use, and that a file BuildKit refuses or warns about is
// an error naming the line and the rule.
func TestParseDockerfile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     string
		want    string
		wantErr string
	}{
		{
			name: "stages, flags and a continued RUN with a comment inside",
			src: `# syntax=docker/dockerfile:1
FROM --platform=$BUILDPLATFORM golang:1.27.3 AS build
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/root/.cache/go-build \
    # the comment line is dropped
    go build -o /out/app .

FROM scratch
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
`,
			want: `FROM golang:1.27.3 platform="$BUILDPLATFORM" name="build" line 2
  ENV CGO_ENABLED=0 line 3
  RUN flags=["mount"] cmd=["go build -o /out/app ."] heredocs=0 line 4
FROM scratch platform="" name="" line 8
  COPY from="build" ["/out/app"] -> "/app" line 9
  ENTRYPOINT ["/app"] shell=false line 10
`,
		},
		{
			name: "lower-case keywords and HEALTHCHECK options",
			src:  "from scratch\nhealthcheck --interval=5s \\\n  CMD [\"/app\", \"healthcheck\"]\n",
			want: `FROM scratch platform="" name="" line 1
  HEALTHCHECK ["CMD" "/app" "healthcheck"] interval=5s line 2
`,
		},
		{
			name: "the escape directive",
			src:  "# escape=`\nFROM scratch\nRUN go build `\n  -o /out/app .\n",
			want: `FROM scratch platform="" name="" line 2
  RUN flags=[] cmd=["go build   -o /out/app ."] heredocs=0 line 3
`,
		},
		{
			name: "a heredoc",
			src:  "FROM scratch\nRUN <<EOF\ntrue\nEOF\n",
			want: `FROM scratch platform="" name="" line 1
  RUN flags=[] cmd=["<<EOF"] heredocs=1 line 2
`,
		},
		{
			name: "a continuation at the end of the file",
			src:  "FROM scratch\nRUN true \\\n",
			want: `FROM scratch platform="" name="" line 1
  RUN flags=[] cmd=["true"] heredocs=0 line 2
`,
		},
		{name: "instruction before FROM", src: "RUN true\nFROM scratch\n", wantErr: "no build stage"},
		{name: "no FROM", src: "# nothing\n", wantErr: "no instructions"},
		{name: "malformed FROM", src: "FROM a b\n", wantErr: "FROM requires either one or three arguments"},
		{name: "stage name in capitals", src: "FROM scratch AS Final\n", wantErr: "test:1: StageNameCasing"},
		{name: "ENV in the legacy form", src: "FROM scratch\nENV A 1\n", wantErr: "test:2: LegacyKeyValueFormat"},
		{name: "ENTRYPOINT in shell form", src: "FROM scratch\nENTRYPOINT /app\n", wantErr: "test:2: JSONArgsRecommended"},
		{name: "an empty continuation line", src: "FROM scratch\nENV A=1 \\\n\n  B=2\n", wantErr: "NoEmptyContinuation"},
		{name: "mixed keyword case", src: "FROM scratch\nenv A=1\nUSER 1\n", wantErr: "test:2: ConsistentInstructionCasing"},
		{name: "a platform that is a constant", src: "FROM --platform=linux/amd64 scratch\n", wantErr: "FromPlatformFlagConstDisallowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseDockerfile("test", []byte(tt.src))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := got.outline(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

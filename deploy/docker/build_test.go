package docker_test

import (
	"bytes"
	"cmp"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"
	"github.com/mattn/go-shellwords"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// TestDockerfiles replays the build stage of every service's Dockerfile on
// this machine, with the local Go toolchain, and checks what comes out: a
// static binary of the service, run by a small non-root final image whose
// health check and exposed port fit the binary, configured by compose with
// settings the binary knows. The images themselves are not built: that
// needs a Docker engine; what can drift from the code is checked here.
func TestDockerfiles(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the images are Linux: the test runs the binaries it builds for them")
	}
	root := repoRoot(t)
	project := loadCompose(t, root)
	for _, name := range serviceNames(t, root) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkServiceImage(t, root, project, name)
		})
	}
}

func checkServiceImage(t *testing.T, root string, project *types.Project, name string) {
	dockerfile := filepath.Join(root, "services", name, "Dockerfile")
	img := serviceImage(t, root, name)
	settings := readSettings(t, img.binary)

	httpAddr := settings.defaults["HTTP_ADDR"]
	if v, ok := img.env["HTTP_ADDR"]; ok {
		httpAddr = v
	}
	_, portText, err := net.SplitHostPort(httpAddr)
	if err != nil {
		t.Fatalf("HTTP_ADDR %q: %v", httpAddr, err)
	}
	port, _ := strconv.Atoi(portText)
	if !slices.Contains(img.exposed, port) {
		t.Errorf("%s: EXPOSE %v, but the service listens on %s", dockerfile, img.exposed, httpAddr)
	}
	checkHealthcheckCommand(t, img)

	svc, ok := project.Services[name]
	if !ok {
		return // TestComposeFile reports the missing service
	}
	for _, key := range slices.Sorted(maps.Keys(svc.Environment)) {
		if !settings.env[key] && !readsOTel(img.binary, key) {
			t.Errorf("docker-compose.yml: %s sets %s, which the service does not read (it knows %v)",
				name, key, slices.Sorted(maps.Keys(settings.env)))
		}
	}
	if svc.HealthCheck != nil && len(svc.HealthCheck.Test) > 0 {
		want := append([]string{"CMD"}, img.healthcheck...)
		if got := []string(svc.HealthCheck.Test); !slices.Equal(got, want) {
			t.Errorf("docker-compose.yml: %s health check %q, want the image's %q", name, got, want)
		}
	}
	if cfg, err := prometheusConfig(project); err == nil {
		if scraped, err := scrapePort(cfg, name); err == nil && scraped != port {
			t.Errorf("prometheus.yml scrapes %s on port %d, but the service listens on %d", name, scraped, port)
		}
	}
	for _, p := range svc.Ports {
		if int(p.Target) != port {
			t.Errorf("docker-compose.yml: %s publishes container port %d, but the service listens on %d", name, p.Target, port)
		}
	}
}

// platform is an image's operating system and architecture, as
// `docker buildx build --platform` names it: linux/arm64.
type platform struct{ os, arch string }

func (p platform) String() string { return p.os + "/" + p.arch }

// imagePlatforms are the platforms `make images` builds every image for.
var imagePlatforms = []platform{{"linux", "amd64"}, {"linux", "arm64"}}

// serviceImage reads the service's Dockerfile with BuildKit, checks that
// every platform's build compiles for that platform on the build platform,
// replays the build stages for this machine and returns the final stage
// with the binary they built.
func serviceImage(t *testing.T, root, name string) finalImage {
	t.Helper()
	dockerfile := filepath.Join(root, "services", name, "Dockerfile")
	df, err := readDockerfile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	if len(df.stages) < 2 {
		t.Fatalf("%s: %d stage(s), want a build stage and a small final stage", dockerfile, len(df.stages))
	}
	for _, target := range imagePlatforms {
		if err := checkCrossBuild(t, root, df, target); err != nil {
			t.Errorf("%s: for %s: %v", dockerfile, target, err)
		}
	}

	// The build stages, replayed in order; each leaves its file system.
	native := platform{"linux", runtime.GOARCH}
	built := map[string]string{}
	for i, st := range df.stages[:len(df.stages)-1] {
		r := newReplay(t, root, df, native, native)
		r.fs = t.TempDir()
		image, err := r.expandFrom(st.BaseName)
		if err != nil {
			t.Fatalf("%s: stage %d (line %d): %v", dockerfile, i, lineOf(st.Location), err)
		}
		goVersion, err := goImageVersion(image)
		if err != nil {
			t.Fatalf("%s: stage %d (line %d): %v", dockerfile, i, lineOf(st.Location), err)
		}
		for _, cmd := range st.Commands {
			if err := r.do(cmd); err != nil {
				t.Fatalf("%s: %v", dockerfile, err)
			}
		}
		checkGoDirectives(t, r.fs, image, goVersion)
		built[strconv.Itoa(i)] = r.fs
		if st.Name != "" {
			built[st.Name] = r.fs
		}
	}

	final := df.stages[len(df.stages)-1]
	if err := checkRuntimeImage(final); err != nil {
		t.Errorf("%s: final stage: %v", dockerfile, err)
	}
	img, err := readFinalStage(final, built, newReplay(t, root, df, native, native))
	if err != nil {
		t.Fatalf("%s: final stage: %v", dockerfile, err)
	}
	checkStaticBinary(t, img.binary, moduleOf(t, filepath.Join(root, "services", name, "go.mod")), native)
	return img
}

// checkCrossBuild checks that the build stages of df, built for target,
// run on the build platform and have Go compile for target: what lets
// `docker buildx build --platform` cross-compile instead of emulating. The
// build platform is this machine's; the stages' go commands are followed,
// not run.
func checkCrossBuild(t *testing.T, root string, df dockerfile, target platform) error {
	build := platform{"linux", runtime.GOARCH}
	builds := 0
	for _, st := range df.stages[:len(df.stages)-1] {
		r := newReplay(t, root, df, build, target)
		runsOn, err := r.expandFrom(st.Platform)
		if err != nil {
			return err
		}
		if runsOn != build.String() {
			return fmt.Errorf("line %d: stage %q runs on %s, not on the build platform %s: use FROM --platform=$BUILDPLATFORM",
				lineOf(st.Location), st.Name, cmp.Or(runsOn, target.String()+" (the target's)"), build)
		}
		for _, cmd := range st.Commands {
			if err := r.do(cmd); err != nil {
				return err
			}
		}
		for _, run := range r.goRuns {
			if len(run.args) < 2 || run.args[1] != "build" {
				continue
			}
			builds++
			if got := (platform{run.env["GOOS"], run.env["GOARCH"]}); got != target {
				return fmt.Errorf("go build compiles for %s: set GOOS and GOARCH from TARGETOS and TARGETARCH (ARG TARGETOS TARGETARCH)", got)
			}
		}
	}
	if builds == 0 {
		return errors.New("no build stage runs go build")
	}
	return nil
}

// TestCrossBuildChecksCatchMistakes breaks the cross-compiling build stage
// in the ways checkCrossBuild exists for.
func TestCrossBuildChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	const final = "FROM scratch\nCOPY --from=build /out/app /app\nENTRYPOINT [\"/app\"]\n"
	tests := []struct{ name, build, want string }{
		{
			name:  "cross-compiled",
			build: "FROM --platform=$BUILDPLATFORM golang:1.27.3 AS build\nARG TARGETOS TARGETARCH\nRUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app .\n",
		},
		{
			name:  "emulated",
			build: "FROM golang:1.27.3 AS build\nARG TARGETOS TARGETARCH\nRUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app .\n",
			want:  "not on the build platform",
		},
		{
			name:  "built for the build platform",
			build: "FROM --platform=$BUILDPLATFORM golang:1.27.3 AS build\nRUN go build -o /out/app .\n",
			want:  "set GOOS and GOARCH from TARGETOS and TARGETARCH",
		},
		{
			name:  "the target's variables not declared",
			build: "FROM --platform=$BUILDPLATFORM golang:1.27.3 AS build\nRUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app .\n",
			want:  "set GOOS and GOARCH",
		},
		{
			name:  "no go build",
			build: "FROM --platform=$BUILDPLATFORM golang:1.27.3 AS build\nRUN go mod download\n",
			want:  "runs go build",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			df, err := parseDockerfile("test", []byte(tt.build+final))
			if err != nil {
				t.Fatal(err)
			}
			var errs []error
			for _, target := range imagePlatforms {
				if err := checkCrossBuild(t, root, df, target); err != nil {
					errs = append(errs, err)
				}
			}
			err = errors.Join(errs...)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("err = %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestReplayRefusesWhatItCannotFollow checks that a build stage the replay
// would get wrong is an error naming the instruction, not a pass.
func TestReplayRefusesWhatItCannotFollow(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	tests := []struct{ name, src, want string }{
		{"a heredoc", "RUN <<EOF\ngo build\nEOF\n", "line 2: RUN: heredocs cannot be replayed"},
		{"a command other than go", "RUN apt-get update\n", "only go commands"},
		{"commands joined by ;", "RUN go mod download; go build .\n", "only commands joined by &&"},
		{"another RUN flag", "RUN --network=none go build .\n", "flag --network"},
		{"a bind mount", "RUN --mount=type=bind,target=/src go build .\n", "a bind mount cannot be replayed"},
		{"a source pattern", "COPY pkg/*.go /src/\n", "only plain paths"},
		{"a source .dockerignore excludes", "COPY Makefile /src/\n", "excluded by .dockerignore"},
		{"ADD", "ADD https://example.com/x /x\n", "line 2: ADD: cannot be replayed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			df, err := parseDockerfile("test", []byte("FROM golang:1.27.3 AS build\n"+tt.src))
			if err != nil {
				t.Fatal(err)
			}
			r := newReplay(t, root, df, platform{"linux", runtime.GOARCH}, platform{"linux", runtime.GOARCH})
			for _, cmd := range df.stages[0].Commands {
				if err = r.do(cmd); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// goImagePattern matches an official Go image pinned to a patch release:
// golang:1.27.3, golang:1.27.3-bookworm, golang:1.27.3-alpine3.22.
var goImagePattern = regexp.MustCompile(`^(\d+\.\d+\.\d+)(-[a-z0-9.]+)?$`)

// goImageVersion returns the Go release of a build stage's image, which must
// be the official golang image pinned to a patch release.
func goImageVersion(image string) (goVersion, error) {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return goVersion{}, fmt.Errorf("image %q: %w", image, err)
	}
	if reference.FamiliarName(ref) != "golang" {
		return goVersion{}, fmt.Errorf("build stage image %s: want the official golang image", image)
	}
	tagged, ok := ref.(reference.Tagged)
	if !ok {
		return goVersion{}, fmt.Errorf("image %s: pin a Go release, such as golang:1.27.3-bookworm", image)
	}
	m := goImagePattern.FindStringSubmatch(tagged.Tag())
	if m == nil {
		return goVersion{}, fmt.Errorf("image %s: pin a Go patch release, such as golang:1.27.3-bookworm", image)
	}
	return parseGoVersion(m[1])
}

// checkGoDirectives checks every go.mod the build stage copied against the
// stage's Go release: the same minor line, and not older than the directive
// asks (the image has no other toolchain to switch to).
func checkGoDirectives(t *testing.T, stageFS, image string, have goVersion) {
	t.Helper()
	found := 0
	err := filepath.WalkDir(stageFS, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "go.mod" {
			return err
		}
		found++
		directive, err := goVersionOf(p)
		if err != nil {
			return err
		}
		want, err := parseGoVersion(directive)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		rel, _ := filepath.Rel(stageFS, p)
		if want.major != have.major || want.minor != have.minor || have.less(want) {
			t.Errorf("/%s says go %s, but the build stage runs %s (Go %s)", filepath.ToSlash(rel), directive, image, have)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Error("the build stage copied no go.mod")
	}
}

// checkRuntimeImage accepts a final stage that runs on distroless/static
// or scratch, pinned, and not as root.
func checkRuntimeImage(final instructions.Stage) error {
	if final.BaseName == "scratch" {
		return checkNonRoot(final, "")
	}
	ref, err := reference.ParseNormalizedNamed(final.BaseName)
	if err != nil {
		return fmt.Errorf("image %q: %w", final.BaseName, err)
	}
	if !strings.HasPrefix(reference.Path(ref), "distroless/static") {
		return fmt.Errorf("image %s: want gcr.io/distroless/static* or scratch for a static binary", final.BaseName)
	}
	if err := checkPinned(final.BaseName); err != nil {
		return fmt.Errorf("image %w", err)
	}
	tag := ""
	if tagged, ok := ref.(reference.Tagged); ok {
		tag = tagged.Tag()
	}
	return checkNonRoot(final, tag)
}

// checkNonRoot requires a USER other than root, or a :nonroot image whose
// default user is not root.
func checkNonRoot(final instructions.Stage, tag string) error {
	user := ""
	if strings.Contains(tag, "nonroot") {
		user = "nonroot"
	}
	for _, cmd := range final.Commands {
		if u, ok := cmd.(*instructions.UserCommand); ok {
			user = u.User
		}
	}
	name, _, _ := strings.Cut(user, ":")
	if name == "" || name == "root" || name == "0" {
		return fmt.Errorf("runs as root: set USER nonroot:nonroot (65532) or use a :nonroot image")
	}
	return nil
}

// finalImage is what the final stage is made of.
type finalImage struct {
	binary      string // the entrypoint binary, as built by the replay
	entrypoint  []string
	healthcheck []string // HEALTHCHECK CMD arguments
	exposed     []int
	env         map[string]string
}

// readFinalStage finds the entrypoint binary among the files the final stage
// copies from the build stages, and reads its health check, ports and
// environment; r expands the stage's variables.
func readFinalStage(final instructions.Stage, built map[string]string, r *replay) (finalImage, error) {
	img := finalImage{env: map[string]string{}}
	copied := map[string]string{} // path in the image -> file on the host
	for _, cmd := range final.Commands {
		line := lineOf(cmd.Location())
		if err := r.expandCommand(cmd); err != nil {
			return img, fmt.Errorf("line %d: %w", line, err)
		}
		switch c := cmd.(type) {
		case *instructions.CopyCommand:
			if c.From == "" {
				continue // from the build context: nothing the checks need
			}
			stageFS, ok := built[c.From]
			if !ok {
				return img, fmt.Errorf("line %d: COPY --from=%s: no such build stage", line, c.From)
			}
			if len(c.SourcePaths) != 1 {
				return img, fmt.Errorf("line %d: COPY --from: want one source and one destination", line)
			}
			src, dest := c.SourcePaths[0], c.DestPath
			if strings.HasSuffix(dest, "/") {
				dest = path.Join(dest, path.Base(src))
			}
			copied[path.Clean(dest)] = filepath.Join(stageFS, filepath.FromSlash(src))
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				return img, fmt.Errorf("line %d: ENTRYPOINT %s: want the exec form [\"...\"]", line, c.CmdLine)
			}
			img.entrypoint = c.CmdLine
		case *instructions.HealthCheckCommand:
			if test := c.Health.Test; len(test) < 2 || test[0] != "CMD" {
				return img, fmt.Errorf("line %d: HEALTHCHECK %q: want CMD [...]", line, test)
			}
			img.healthcheck = c.Health.Test[1:]
		case *instructions.ExposeCommand:
			for _, p := range c.Ports {
				n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
				if err != nil {
					return img, fmt.Errorf("line %d: EXPOSE %s: %w", line, p, err)
				}
				img.exposed = append(img.exposed, n)
			}
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				img.env[kv.Key] = kv.Value
			}
		}
	}
	if len(img.entrypoint) == 0 {
		return img, errors.New("no ENTRYPOINT in exec form")
	}
	binary, ok := copied[path.Clean(img.entrypoint[0])]
	if !ok {
		return img, fmt.Errorf("ENTRYPOINT %s is not a file the stage copies from a build stage", img.entrypoint[0])
	}
	img.binary = binary
	if len(img.healthcheck) == 0 {
		return img, errors.New("no HEALTHCHECK CMD [...]: the image has no shell, so use the binary's own check")
	}
	if img.healthcheck[0] != img.entrypoint[0] {
		return img, fmt.Errorf("HEALTHCHECK runs %s, not the service binary %s", img.healthcheck[0], img.entrypoint[0])
	}
	return img, nil
}

// checkStaticBinary checks that path is a static executable for target
// built from module with CGO disabled and -trimpath, as the image needs: the
// final stage has no C library and no loader.
func checkStaticBinary(t *testing.T, path, module string, target platform) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("the build stage's binary: %v", err)
	}
	defer func() { _ = f.Close() }() // only read
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s is dynamically linked (%s): build with CGO_ENABLED=0", path, p.Type)
		}
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != module {
		t.Errorf("the binary is %s, want the service's main package %s", info.Path, module)
	}
	want := map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": target.os, "GOARCH": target.arch}
	for _, s := range info.Settings {
		if v, ok := want[s.Key]; ok {
			if s.Value != v {
				t.Errorf("the binary was built with %s=%s, want %s", s.Key, s.Value, v)
			}
			delete(want, s.Key)
		}
	}
	for k, v := range want {
		t.Errorf("the binary was not built with %s=%s", k, v)
	}
}

// serviceSettings is what a service binary's --help says it reads.
type serviceSettings struct {
	env      map[string]bool   // every environment variable
	defaults map[string]string // env name -> default value
}

var settingLine = regexp.MustCompile(`(?m)^\s*key \S+, env (\S+), default (.*)$`)

// readSettings runs the binary with --help and an empty environment.
func readSettings(t *testing.T, binary string) serviceSettings {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "--help")
	cmd.Env = []string{}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s --help: %v", binary, err)
	}
	s := serviceSettings{env: map[string]bool{}, defaults: map[string]string{}}
	for _, m := range settingLine.FindAllStringSubmatch(string(out), -1) {
		s.env[m[1]] = true
		value := strings.TrimSpace(m[2])
		if unquoted, err := strconv.Unquote(value); err == nil {
			value = unquoted
		}
		s.defaults[m[1]] = value
	}
	if _, ok := s.defaults["HTTP_ADDR"]; !ok {
		t.Fatalf("%s --help lists no HTTP_ADDR setting:\n%s", binary, out)
	}
	return s
}

// checkHealthcheckCommand runs the image's health check command with the
// built binary: it must pass while /healthz answers at HTTP_ADDR and fail
// when nothing listens there.
func checkHealthcheckCommand(t *testing.T, img finalImage) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	srv := httptest.NewServer(mux)
	addr := srv.Listener.Addr().String()

	run := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, img.binary, img.healthcheck[1:]...)
		cmd.Env = []string{"HTTP_ADDR=" + addr}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
		}
		return nil
	}
	if err := run(); err != nil {
		t.Errorf("HEALTHCHECK %q against a healthy service: %v", img.healthcheck, err)
	}
	srv.Close()
	if err := run(); err == nil {
		t.Errorf("HEALTHCHECK %q passed with nothing listening at %s", img.healthcheck, addr)
	}
}

// moduleOf returns the module path declared in a go.mod file.
func moduleOf(t *testing.T, gomod string) string {
	t.Helper()
	data, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s has no module line", gomod)
	}
	return string(m[1])
}

// replay runs a build stage's instructions on this machine. A temporary
// directory stands for the stage's "/"; COPY takes files from the build
// context (the repository) as .dockerignore filters it; RUN may run only the
// go command, with the environment the stage sets and none of the caller's
// Go settings, as in a fresh golang image. Words are expanded by BuildKit's
// own shell lexer, with the stage's ENV and ARGs and the platform ARGs
// BuildKit sets. With no file system (fs empty), the replay follows the
// instructions without copying or running anything.
type replay struct {
	context string
	ignore  *patternmatcher.PatternMatcher
	fs      string
	workdir string // in the stage, slash-separated
	build   platform
	lex     *shell.Lex
	env     map[string]string // ENV
	args    map[string]string // ARGs the stage declared, with their values
	meta    map[string]string // ARGs before the first FROM
	auto    map[string]string // the platform ARGs BuildKit gives every build
	goRuns  []goRun           // the go commands, in order
}

// goRun is a go command as the replay ran it: its arguments and environment.
type goRun struct {
	args []string
	env  map[string]string
}

// newReplay returns a replay of a stage of df in a build on build for
// target, without a file system.
func newReplay(t *testing.T, context string, df dockerfile, build, target platform) *replay {
	t.Helper()
	f, err := os.Open(filepath.Join(context, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // only read
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	auto := map[string]string{
		"BUILDPLATFORM": build.String(), "BUILDOS": build.os, "BUILDARCH": build.arch,
		"TARGETPLATFORM": target.String(), "TARGETOS": target.os, "TARGETARCH": target.arch,
	}
	r := &replay{context: context, ignore: pm, workdir: "/", build: build, lex: shell.NewLex(df.escape),
		env: map[string]string{}, args: map[string]string{}, meta: map[string]string{}, auto: auto}
	for _, a := range df.metaArg {
		for _, kv := range a.Args {
			if kv.Value != nil {
				r.meta[kv.Key] = *kv.Value
			}
		}
	}
	return r
}

// expandFrom expands the variables in a word of a FROM line: the platform
// ARGs and those before the first FROM.
func (r *replay) expandFrom(word string) (string, error) {
	return r.expandWith(word, r.auto, r.meta)
}

// expand expands the variables in a word of the stage as BuildKit does:
// the ARGs the stage declared, and its ENV over them.
func (r *replay) expand(word string) (string, error) {
	return r.expandWith(word, r.args, r.env)
}

func (r *replay) expandWith(word string, scopes ...map[string]string) (string, error) {
	var vars []string
	for _, m := range scopes {
		for k, v := range m {
			vars = append(vars, k+"="+v)
		}
	}
	out, _, err := r.lex.ProcessWord(word, shell.EnvsFromSlice(vars))
	return out, err
}

// expandCommand expands the words of cmd that BuildKit expands.
func (r *replay) expandCommand(cmd instructions.Command) error {
	if c, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		return c.Expand(r.expand)
	}
	return nil
}

// host returns where a path inside the stage lives on this machine.
func (r *replay) host(p string) string {
	if !path.IsAbs(p) {
		p = path.Join(r.workdir, p)
	}
	return filepath.Join(r.fs, filepath.FromSlash(path.Clean(p)))
}

func (r *replay) do(cmd instructions.Command) error {
	err := r.expandCommand(cmd)
	if err == nil {
		switch c := cmd.(type) {
		case *instructions.WorkdirCommand:
			r.workdir = path.Join(r.workdir, c.Path) // an absolute path replaces it
			if r.fs != "" {
				err = os.MkdirAll(r.host(r.workdir), 0o750)
			}
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				r.env[kv.Key] = kv.Value
			}
		case *instructions.ArgCommand:
			for _, kv := range c.Args {
				if v, ok := r.auto[kv.Key]; ok {
					r.args[kv.Key] = v
				} else if kv.Value != nil {
					r.args[kv.Key] = *kv.Value
				}
			}
		case *instructions.CopyCommand:
			err = r.copy(c)
		case *instructions.RunCommand:
			err = r.run(c)
		case *instructions.LabelCommand:
		default:
			err = errors.New("cannot be replayed here; teach deploy/docker's tests or do without it")
		}
	}
	if err != nil {
		return fmt.Errorf("line %d: %s: %w", lineOf(cmd.Location()), strings.ToUpper(cmd.Name()), err)
	}
	return nil
}

// copy copies files from the build context, as Docker does: a directory's
// contents (not the directory itself) into the destination, several sources
// or a destination ending in / into a directory. An explicitly named file
// that .dockerignore excludes is an error, as it is for Docker.
func (r *replay) copy(c *instructions.CopyCommand) error {
	switch {
	case c.From != "":
		return errors.New("COPY --from in a build stage is not supported")
	case len(c.SourceContents) > 0:
		return errors.New("heredocs cannot be replayed")
	case len(c.ExcludePatterns) > 0 || c.Parents:
		return errors.New("--exclude and --parents are not supported")
	}
	srcs, dest := c.SourcePaths, c.DestPath
	intoDir := len(srcs) > 1 || strings.HasSuffix(dest, "/")
	for _, src := range srcs {
		rel := path.Clean(strings.TrimPrefix(src, "/"))
		if strings.ContainsAny(rel, "*?[") || rel == ".." || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("source %s: only plain paths inside the context are supported", src)
		}
		if excluded, err := r.excluded(rel); err != nil {
			return err
		} else if excluded {
			return fmt.Errorf("source %s is excluded by .dockerignore", src)
		}
		from := filepath.Join(r.context, filepath.FromSlash(rel))
		fi, err := os.Stat(from)
		if err == nil && r.fs == "" {
			continue
		}
		if err != nil {
			return fmt.Errorf("source %s: %w", src, err)
		}
		if !fi.IsDir() {
			to := r.host(dest)
			if intoDir {
				to = filepath.Join(to, path.Base(rel))
			}
			if err := copyFile(from, to); err != nil {
				return err
			}
			continue
		}
		err = filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			inContext, _ := filepath.Rel(r.context, p)
			if excluded, err := r.excluded(filepath.ToSlash(inContext)); err != nil || excluded {
				return err
			}
			under, _ := filepath.Rel(from, p)
			return copyFile(p, filepath.Join(r.host(dest), under))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *replay) excluded(rel string) (bool, error) {
	return r.ignore.MatchesOrParentMatches(rel)
}

func copyFile(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o750); err != nil {
		return err
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }() // only read
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		return errors.Join(err, out.Close())
	}
	return out.Close()
}

// run runs a RUN instruction: go commands, possibly joined by &&, with
// leading VAR=value assignments, the stage's variables expanded. Absolute
// paths among the arguments are paths in the stage and are mapped into it.
func (r *replay) run(c *instructions.RunCommand) error {
	for _, f := range c.FlagsUsed {
		if f != "mount" {
			return fmt.Errorf("flag --%s is not supported", f)
		}
	}
	for _, m := range instructions.GetMounts(c) {
		if m.Type != instructions.MountTypeCache {
			return fmt.Errorf("a %s mount cannot be replayed", m.Type)
		}
		// Cache mounts only make rebuilds faster; the result is the same.
	}
	if len(c.Files) > 0 {
		return errors.New("heredocs cannot be replayed")
	}
	if !c.PrependShell {
		return r.runGo(nil, slices.Clone(c.CmdLine))
	}
	line := strings.Join(c.CmdLine, " ")
	for line != "" {
		p := shellwords.NewParser()
		p.ParseEnv = true
		p.Getenv = func(k string) string {
			if v, ok := r.env[k]; ok {
				return v
			}
			return r.args[k]
		}
		assigns, args, err := p.ParseWithEnvs(line)
		if err != nil {
			return err
		}
		if err := r.runGo(assigns, args); err != nil {
			return err
		}
		if p.Position < 0 {
			break
		}
		rest := strings.TrimSpace(line[p.Position:])
		next, ok := strings.CutPrefix(rest, "&&")
		if !ok {
			return fmt.Errorf("%q: only commands joined by && are supported", rest)
		}
		line = strings.TrimSpace(next)
	}
	return nil
}

// goEnvKept are the variables of this process that a go command in the
// replay still sees: where the caches are and how to reach the module proxy.
// Everything that changes what gets built comes from the Dockerfile alone.
var goEnvKept = []string{
	"PATH", "HOME", "TMPDIR", "XDG_CACHE_HOME",
	"GOPATH", "GOCACHE", "GOMODCACHE", "GOTOOLCHAIN",
	"GOPROXY", "GOSUMDB", "GONOSUMDB", "GONOPROXY", "GOPRIVATE", "GOINSECURE",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
}

func (r *replay) runGo(assigns, args []string) error {
	if len(args) == 0 || args[0] != "go" {
		return fmt.Errorf("%q: only go commands can be replayed", strings.Join(args, " "))
	}
	env := map[string]string{
		"GOENV": "off", // no user go env file, as in a fresh image
		// The stage's go builds for the platform it runs on unless told.
		"GOOS": r.build.os, "GOARCH": r.build.arch,
	}
	for _, k := range goEnvKept {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	maps.Copy(env, r.args) // RUN sees the stage's ARGs as variables, and its ENV over them
	maps.Copy(env, r.env)
	for _, a := range assigns {
		k, v, _ := strings.Cut(a, "=")
		env[k] = v
	}
	r.goRuns = append(r.goRuns, goRun{args: slices.Clone(args), env: env})
	if r.fs == "" {
		return nil
	}
	for i, a := range args[1:] {
		args[i+1] = r.mapPath(a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args[1:]...)
	cmd.Dir = r.host(r.workdir)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s (in %s): %w\n%s", strings.Join(args, " "), r.workdir, err, out)
	}
	return nil
}

// mapPath maps an absolute path argument, alone or as -flag=/path, into the
// stage's file system.
func (r *replay) mapPath(arg string) string {
	if strings.HasPrefix(arg, "/") {
		return r.host(arg)
	}
	if flag, value, ok := strings.Cut(arg, "="); ok && strings.HasPrefix(flag, "-") && strings.HasPrefix(value, "/") {
		return flag + "=" + r.host(value)
	}
	return arg
}

// TestImagesTarget checks the commands `make images` runs: for every
// service, docker buildx builds its Dockerfile, with the repository as
// context, for every platform in imagePlatforms, under the name Compose
// gives the image it builds (<project>-<service>).
func TestImagesTarget(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	project := loadCompose(t, root)
	cmd := exec.CommandContext(t.Context(), "make", "--no-print-directory", "-n", "images")
	cmd.Dir = root
	// The Makefile's defaults, not the caller's; GOWORK too, since this
	// module's own tests run with GOWORK=off and make needs the workspace.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "IMAGE_") && !strings.Contains(k, "MAKE") && k != "MFLAGS" && k != "GOWORK" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n images: %v\n%s", err, out)
	}
	platforms := make([]string, len(imagePlatforms))
	for i, p := range imagePlatforms {
		platforms[i] = p.String()
	}
	var want, got []string
	for _, name := range serviceNames(t, root) {
		want = append(want, fmt.Sprintf("docker buildx build --platform %s -f services/%s/Dockerfile -t %s-%s .",
			strings.Join(platforms, ","), name, project.Name, name))
	}
	for line := range strings.Lines(string(out)) {
		got = append(got, strings.Join(strings.Fields(line), " "))
	}
	if !slices.Equal(got, want) {
		t.Errorf("make images runs\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

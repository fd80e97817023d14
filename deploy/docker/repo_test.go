package docker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// repoRoot returns the repository root: the build context of every image and
// the directory docker-compose.yml resolves its paths against.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("repository root %s has no go.work: %v", root, err)
	}
	return root
}

// serviceNames lists the services as the file system has them: every
// directory under services/ with a go.mod. A new service therefore fails the
// tests until it has a Dockerfile and a compose entry.
func serviceNames(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "services"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, "services", e.Name(), "go.mod")); err == nil {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatal("no service modules under services/")
	}
	return names
}

// loadCompose loads docker-compose.yml as `docker compose` does, minus the
// caller's environment and .env file, so the result depends on the file
// alone, and on env (KEY=value) when given.
func loadCompose(t *testing.T, root string, env ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithResolvedPaths(true),
		cli.WithEnv(env),
	)
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml is not a valid Compose file: %v", err)
	}
	return project
}

var goDirective = regexp.MustCompile(`(?m)^go\s+(\S+)\s*$`)

// goVersionOf returns the go directive of the go.mod file at path.
func goVersionOf(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	m := goDirective.FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("%s has no go directive", path)
	}
	return string(m[1]), nil
}

// goVersion is a Go release: 1.27.3, or 1.27 for a whole minor line.
type goVersion struct{ major, minor, patch int }

func parseGoVersion(s string) (goVersion, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return goVersion{}, fmt.Errorf("%q is not a Go version like 1.27.3", s)
	}
	var nums [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return goVersion{}, fmt.Errorf("%q is not a Go version like 1.27.3", s)
		}
		nums[i] = n
	}
	return goVersion{nums[0], nums[1], nums[2]}, nil
}

func (v goVersion) less(w goVersion) bool {
	if v.major != w.major {
		return v.major < w.major
	}
	if v.minor != w.minor {
		return v.minor < w.minor
	}
	return v.patch < w.patch
}

func (v goVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }

package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
	"golang.org/x/tools/txtar"
)

// repoRootOnce is set before any test changes directory.
var repoRootOnce string

var update = flag.Bool("update", false, "rewrite the want sections of testdata/golden/*.txtar from what futuresgen does now")

// The golden cases are txtar archives in testdata/golden. Every file not
// under want/ is the input: a module (a go.mod is added when missing)
// that futuresgen runs on, with the arguments in the "args" file if there
// is one ("./..." otherwise). When futuresgen succeeds, the module must
// then pass go vet, unless the archive has a "novet" file, with the
// environment in the "vetenv" file if there is one (GOOS=windows). Under
// want/:
//
//	want/<path>   the file futuresgen must leave at <path>
//	want/stderr   what it must print on standard error (the work
//	              directory appears as $WORK)
//	want/stdout   what it must print on standard output, if given
//	want/exit     its exit status (default 0)
//	want/absent   paths that must not exist afterwards, one per line
//
// Run "go test ./cmd/futuresgen -run Golden -update" to rewrite the want
// sections after an intended change, and review the diff.
func TestGolden(t *testing.T) {
	repoRootOnce = repoRoot(t)
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "golden", "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, file := range files {
		file, _ := filepath.Abs(file)
		name := strings.TrimSuffix(filepath.Base(file), ".txtar")
		t.Run(name, func(t *testing.T) { runGolden(t, file) })
	}
}

func runGolden(t *testing.T, file string) {
	ar, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := []string{"./..."}
	hasMod, novet := false, false
	var vetEnv []string
	for _, f := range ar.Files {
		if strings.HasPrefix(f.Name, "want/") {
			continue
		}
		if f.Name == "args" {
			args = strings.Fields(string(f.Data))
			continue
		}
		if f.Name == "novet" {
			novet = true
			continue
		}
		if f.Name == "vetenv" {
			vetEnv = strings.Fields(string(f.Data))
			continue
		}
		if f.Name == "go.mod" {
			hasMod = true
		}
		writeFile(t, filepath.Join(dir, f.Name), f.Data)
	}
	if !hasMod {
		writeFile(t, filepath.Join(dir, "go.mod"), []byte("module example.com/golden\n\ngo 1.24\n"))
	}
	useThisModule(t, dir)

	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	gotStderr := strings.ReplaceAll(stderr.String(), dir, "$WORK")

	got := map[string][]byte{}
	wantExit := 0
	var absent []string
	for _, f := range ar.Files {
		rel, ok := strings.CutPrefix(f.Name, "want/")
		if !ok {
			continue
		}
		switch rel {
		case "stderr":
			got[f.Name] = []byte(gotStderr)
		case "stdout":
			got[f.Name] = []byte(strings.ReplaceAll(stdout.String(), dir, "$WORK"))
		case "exit":
			wantExit, _ = strconv.Atoi(strings.TrimSpace(string(f.Data)))
			got[f.Name] = fmt.Appendf(nil, "%d\n", code)
		case "absent":
			absent = strings.Fields(string(f.Data))
			got[f.Name] = f.Data
		default:
			data, err := os.ReadFile(filepath.Join(dir, rel))
			if err != nil {
				data = []byte("(missing: " + err.Error() + ")\n")
			}
			got[f.Name] = data
		}
	}
	if _, ok := got["want/stderr"]; !ok && gotStderr != "" {
		got["want/stderr"] = []byte(gotStderr)
	}
	if _, ok := got["want/exit"]; !ok && code != 0 {
		got["want/exit"] = fmt.Appendf(nil, "%d\n", code)
	}

	if *update {
		var keep []txtar.File
		for _, f := range ar.Files {
			if _, ok := got[f.Name]; ok || !strings.HasPrefix(f.Name, "want/") {
				if data, ok := got[f.Name]; ok {
					f.Data = data
				}
				keep = append(keep, f)
				delete(got, f.Name)
			}
		}
		names := make([]string, 0, len(got))
		for n := range got {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			keep = append(keep, txtar.File{Name: n, Data: got[n]})
		}
		ar.Files = keep
		if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}

	if code != wantExit {
		t.Errorf("exit status %d; want %d\nstderr:\n%s", code, wantExit, gotStderr)
	}
	for _, f := range ar.Files {
		if !strings.HasPrefix(f.Name, "want/") || f.Name == "want/exit" || f.Name == "want/absent" {
			continue
		}
		if !bytes.Equal(got[f.Name], f.Data) {
			t.Errorf("%s differs from the golden file (to accept the change: go test ./cmd/futuresgen -run Golden -update):\n%s",
				f.Name, unifiedDiff(f.Data, got[f.Name]))
		}
		delete(got, f.Name)
	}
	if extra, ok := got["want/stderr"]; ok {
		t.Errorf("unexpected standard error (add want/stderr, or run with -update):\n%s", extra)
	}
	delete(got, "want/exit")
	for _, p := range absent {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s exists; want it removed", p)
		}
	}
	// What was generated must compile and pass go vet, with the user's
	// code that calls it.
	if code == 0 && !t.Failed() && !novet {
		goCmdEnv(t, dir, vetEnv, "vet", "./...")
	}
}

// repoRoot is the root of this module, which the test modules use through
// a replace directive.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// useThisModule makes the module in dir require this one, replaced by the
// working tree, with this module's go.sum: no network is needed.
func useThisModule(t *testing.T, dir string) {
	t.Helper()
	root := repoRootOnce
	mod := filepath.Join(dir, "go.mod")
	data, err := os.ReadFile(mod)
	if err != nil {
		t.Fatal(err)
	}
	data = fmt.Appendf(data, "\nrequire github.com/futuresgen/futuresgen v0.0.0\n\nreplace github.com/futuresgen/futuresgen => %s\n", root)
	writeFile(t, mod, data)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "go.sum"), sum)
	goCmd(t, dir, "mod", "tidy")
}

// goCmd runs the go command in dir and fails the test if it fails.
func goCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return goCmdEnv(t, dir, nil, args...)
}

// goCmdEnv is goCmd with env added to the environment.
func goCmdEnv(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	// Offline: modules come from the cache that building this module
	// filled; go.sum lines the test module lacks are not looked up.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s go %s in %s: %v\n%s", strings.Join(env, " "), strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func unifiedDiff(want, got []byte) string {
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(want)), B: difflib.SplitLines(string(got)),
		FromFile: "want", ToFile: "got", Context: 3,
	})
	return d
}

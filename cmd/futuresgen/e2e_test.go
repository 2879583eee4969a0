package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/tools/txtar"
)

// TestMain lets the test binary be the futuresgen command, as stringer's
// tests do: with FUTURESGEN_TEST_AS_TOOL=1 in its environment it runs the
// command instead of the tests. The end-to-end tests run it that way, in
// a module of their own, as go generate would.
func TestMain(m *testing.M) {
	if os.Getenv("FUTURESGEN_TEST_AS_TOOL") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// tool runs this test binary as futuresgen in dir and returns its exit
// status, standard output and standard error.
func tool(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "FUTURESGEN_TEST_AS_TOOL=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// e2eModule writes testdata/e2e.txtar's module to a new directory and
// returns it with the program's expected output.
func e2eModule(t *testing.T) (dir, wantOutput string) {
	t.Helper()
	dir, want := moduleFrom(t, "e2e")
	return dir, want["output"]
}

// moduleFrom writes the module of testdata/<name>.txtar to a new
// directory, requiring this module replaced by the working tree, and
// returns the directory with the archive's want/ files by name.
func moduleFrom(t *testing.T, name string) (dir string, want map[string]string) {
	t.Helper()
	repoRootOnce = repoRoot(t)
	ar, err := txtar.ParseFile(filepath.Join(repoRootOnce, "testdata", name+".txtar"))
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	want = map[string]string{}
	for _, f := range ar.Files {
		if rel, ok := strings.CutPrefix(f.Name, "want/"); ok {
			want[rel] = string(f.Data)
			continue
		}
		writeFile(t, filepath.Join(dir, f.Name), f.Data)
	}
	useThisModule(t, dir)
	return dir, want
}

func TestEndToEnd(t *testing.T) {
	dir, want := e2eModule(t)
	gen := filepath.Join(dir, "futures_gen.go")

	if code, _, stderr := tool(t, dir, "-v"); code != 0 || !strings.Contains(stderr, "wrote futures_gen.go (6 tasks, 6 errors)") {
		t.Fatalf("futuresgen -v: exit %d, stderr:\n%s", code, stderr)
	}
	goCmd(t, dir, "vet", "./...")
	if got := goCmd(t, dir, "run", "."); got != want {
		t.Errorf("the program printed:\n%s\nwant:\n%s", got, want)
	}

	t.Run("a second run writes nothing and produces the same bytes", func(t *testing.T) {
		first, _ := os.ReadFile(gen)
		old := time.Now().Add(-time.Hour)
		os.Chtimes(gen, old, old)
		if code, _, stderr := tool(t, dir, "-v"); code != 0 || !strings.Contains(stderr, "is up to date") {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		second, _ := os.ReadFile(gen)
		if !bytes.Equal(first, second) {
			t.Error("the second run wrote different bytes")
		}
		if fi, _ := os.Stat(gen); !fi.ModTime().Equal(old) {
			t.Error("the second run rewrote an unchanged file")
		}
		if leftovers, _ := filepath.Glob(filepath.Join(dir, ".futures_gen.go.tmp*")); len(leftovers) > 0 {
			t.Errorf("temporary files left behind: %v", leftovers)
		}
	})

	t.Run("-check passes on fresh files and prints a diff on stale ones", func(t *testing.T) {
		if code, stdout, stderr := tool(t, dir, "-check", "./..."); code != 0 || stdout != "" {
			t.Fatalf("-check on fresh files: exit %d\n%s%s", code, stdout, stderr)
		}
		data, _ := os.ReadFile(gen)
		stale := bytes.Replace(data, []byte("e2e.sum"), []byte("e2e.total"), 1)
		writeFile(t, gen, stale)
		code, stdout, stderr := tool(t, dir, "-check")
		if code != 1 || !strings.Contains(stdout, "--- a/futures_gen.go") || !strings.Contains(stdout, `+	futuresTask_Sum = futuresimpl.RegisterTask("e2e.sum"`) {
			t.Errorf("-check on a stale file: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if got, _ := os.ReadFile(gen); !bytes.Equal(got, stale) {
			t.Error("-check wrote the file")
		}
		if code, _, _ := tool(t, dir, "-check", "./nonexistent"); code != 2 {
			t.Errorf("-check on a bad pattern: exit %d; want 2", code)
		}
		tool(t, dir) // regenerate
		if got, _ := os.ReadFile(gen); !bytes.Equal(got, data) {
			t.Error("regenerating did not restore the file")
		}
	})

	t.Run("a task with a wrong type writes nothing and exits 1", func(t *testing.T) {
		before, _ := os.ReadFile(gen)
		bad := filepath.Join(dir, "bad.go")
		writeFile(t, bad, []byte("package main\n\n//futures:task\nfunc Bad(ch chan int) {}\n"))
		defer os.Remove(bad)
		code, _, stderr := tool(t, dir)
		if code != 1 || !strings.Contains(stderr, "bad.go:4:10: futures:task Bad: parameter ch (chan int) cannot cross a process boundary") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
		if after, _ := os.ReadFile(gen); !bytes.Equal(before, after) {
			t.Error("the generated file changed although generation failed")
		}
	})

	t.Run("a stale file fails to compile under a comment that says to regenerate", func(t *testing.T) {
		main := filepath.Join(dir, "main.go")
		src, _ := os.ReadFile(main)
		defer writeFile(t, main, src)
		changed := bytes.Replace(src, []byte("func Shout(ctx context.Context, s string) (string, error) {"), []byte("func Shout(ctx context.Context, s []byte) (string, error) {\n\t_ = string(s)"), 1)
		changed = bytes.Replace(changed, []byte(`if s == "" {`), []byte(`if len(s) == 0 {`), 1)
		changed = bytes.Replace(changed, []byte("strings.ToUpper(s)"), []byte("strings.ToUpper(string(s))"), 1)
		writeFile(t, main, changed)
		cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off")
		out, err := cmd.CombinedOutput()
		_, after, found := strings.Cut(string(out), "futures_gen.go:")
		if err == nil || !found {
			t.Fatalf("go build: %v; want an error in futures_gen.go\n%s", err, out)
		}
		var line int
		fmt.Sscanf(after, "%d", &line)
		gen, _ := os.ReadFile(filepath.Join(dir, "futures_gen.go"))
		lines := strings.Split(string(gen), "\n")
		above := strings.Join(lines[max(0, line-8):line], "\n")
		if !strings.Contains(above, "func futuresRun_Shout(") || !strings.Contains(above, `signature changed after this file was generated: re-run`) {
			t.Errorf("the error at futures_gen.go:%d is not in futuresRun_Shout under its comment:\n%s\n%s", line, out, above)
		}
	})

	t.Run("a file generated for an older runtime fails at its version guard", func(t *testing.T) {
		// What the futuresgen before futuresimpl wrote: everything from the
		// runtime package, under version 2.
		data, _ := os.ReadFile(gen)
		defer writeFile(t, gen, data)
		old := strings.Replace(string(data), "\tfuturesimpl \"github.com/futuresgen/futuresgen/runtime/futuresimpl\"\n", "", 1)
		old = strings.ReplaceAll(old, "futuresimpl.", "futuresrt.")
		old = strings.Replace(old, "SupportPackageIsVersion3", "SupportPackageIsVersion2", 1)
		writeFile(t, gen, []byte(old))
		cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off")
		out, err := cmd.CombinedOutput()
		_, after, found := strings.Cut(string(out), "futures_gen.go:")
		if err == nil || !found {
			t.Fatalf("go build: %v; want an error in futures_gen.go\n%s", err, out)
		}
		var line int
		fmt.Sscanf(after, "%d", &line)
		lines := strings.Split(old, "\n")
		if !strings.Contains(after, "undefined: futuresrt.SupportPackageIsVersion2") || line < 2 ||
			lines[line-1] != "const _ = futuresrt.SupportPackageIsVersion2" || !strings.Contains(lines[line-2], `re-run "go generate"`) {
			t.Errorf("the first error is not the guard's, under a comment saying to re-run go generate:\n%s", out)
		}
	})

	t.Run("-version and usage errors", func(t *testing.T) {
		if code, stdout, _ := tool(t, dir, "-version"); code != 0 || !strings.HasPrefix(stdout, "futuresgen ") {
			t.Errorf("-version: exit %d, %q", code, stdout)
		}
		if code, _, stderr := tool(t, dir, "-nosuchflag"); code != 2 || !strings.Contains(stderr, "usage: futuresgen") {
			t.Errorf("-nosuchflag: exit %d, stderr:\n%s", code, stderr)
		}
	})
}

// TestGoGenerate takes the user's path exactly: the module names
// futuresgen in a tool directive, and "go generate" runs "go tool
// futuresgen", which the go command builds from this working tree.
func TestGoGenerate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the futuresgen tool; skipped with -short")
	}
	dir, want := e2eModule(t)
	// The tool needs this module's requirements. Copy them rather than run
	// "go mod tidy", which would want the test dependencies of every
	// package the tool imports, absent from a fresh module cache and, the
	// tests being offline, not to be fetched.
	ours, err := os.ReadFile(filepath.Join(repoRootOnce, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var requires []string
	for _, block := range strings.Split(string(ours), "require (")[1:] {
		requires = append(requires, "require ("+block[:strings.Index(block, ")")+1])
	}
	mod := filepath.Join(dir, "go.mod")
	data, _ := os.ReadFile(mod)
	data = append(data, "\n"+strings.Join(requires, "\n\n")+"\n\ntool github.com/futuresgen/futuresgen/cmd/futuresgen\n"...)
	writeFile(t, mod, data)
	sum, err := os.ReadFile(filepath.Join(repoRootOnce, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "go.sum"), sum) // the tidy of useThisModule pruned it
	goCmd(t, dir, "generate", "./...")
	if got := goCmd(t, dir, "run", "."); got != want {
		t.Errorf("the program printed:\n%s\nwant:\n%s", got, want)
	}
}

// TestPlatforms generates the wrappers of tasks declared in files for some
// platforms only, then builds the program for linux, darwin and windows:
// each wrapper must exist exactly where its task does.
func TestPlatforms(t *testing.T) {
	dir, want := moduleFrom(t, "platforms")
	if code, _, stderr := tool(t, dir); code != 0 {
		t.Fatalf("futuresgen: exit %d, stderr:\n%s", code, stderr)
	}
	if got := generatedFiles(t, dir); got != want["files"] {
		t.Errorf("generated files:\n%s\nwant:\n%s", got, want["files"])
	}
	for _, platform := range []string{"linux/amd64", "darwin/arm64", "windows/amd64", "windows/arm64"} {
		t.Run("builds for "+platform, func(t *testing.T) {
			goos, goarch, _ := strings.Cut(platform, "/")
			goCmdEnv(t, dir, []string{"GOOS=" + goos, "GOARCH=" + goarch, "CGO_ENABLED=0"}, "vet", ".")
			goCmdEnv(t, dir, []string{"GOOS=" + goos, "GOARCH=" + goarch, "CGO_ENABLED=0"}, "build", "-o", filepath.Join(t.TempDir(), "prog"), ".")
		})
	}
	t.Run("runs here with the tasks of this platform", func(t *testing.T) {
		if goruntime.GOOS != "linux" {
			t.Skipf("the expected output is linux's; this is %s", goruntime.GOOS)
		}
		if got := goCmd(t, dir, "run", "."); got != want["linux"] {
			t.Errorf("the program printed:\n%s\nwant:\n%s", got, want["linux"])
		}
	})
	t.Run("-check reports, and a run removes, the file of a constraint no task has any more", func(t *testing.T) {
		if code, stdout, stderr := tool(t, dir, "-check", "./..."); code != 0 {
			t.Fatalf("-check on fresh files: exit %d\n%s%s", code, stdout, stderr)
		}
		if err := os.Remove(filepath.Join(dir, "sys_windows_amd64.go")); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := tool(t, dir, "-check", "./...")
		if code != 1 || !strings.Contains(stdout, "--- a/futures_gen_windows_amd64.go") {
			t.Errorf("-check after removing the task: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if code, _, stderr := tool(t, dir, "-v"); code != 0 || !strings.Contains(stderr, "removed futures_gen_windows_amd64.go") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "futures_gen_windows_amd64.go")); err == nil {
			t.Error("futures_gen_windows_amd64.go is still there")
		}
	})
}

// generatedFiles lists the futures_gen*.go files of dir, one per line.
func generatedFiles(t *testing.T, dir string) string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "futures_gen*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, n := range names {
		b.WriteString(filepath.Base(n) + "\n")
	}
	return b.String()
}

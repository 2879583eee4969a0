package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkGenerate compares the wall time of futuresgen on a package of
// 200 tasks with that of golang.org/x/tools/cmd/stringer on a package of
// 200 constants. Both load one package with go/packages, importing the
// same package (context), and write one file. Each iteration runs both,
// one after the other, so that a noisy machine slows both alike; the
// metrics are the best time of each and their ratio:
//
//	go test -run '^$' -bench 'Generate$' -benchtime 30x ./cmd/futuresgen
func BenchmarkGenerate(b *testing.B) {
	const n = 200
	dir := b.TempDir()
	var tasks, consts strings.Builder
	tasks.WriteString("package tasks\n\nimport \"context\"\n\ntype Item struct {\n\tName string\n\tTags []string\n}\n")
	consts.WriteString("package consts\n\nimport \"context\"\n\nvar _ context.Context\n\ntype Color int\n\nconst (\n")
	for i := range n {
		fmt.Fprintf(&tasks, "\n//futures:task\nfunc Task%d(ctx context.Context, it Item, n int) (Item, error) { return it, nil }\n", i)
		fmt.Fprintf(&consts, "\tColor%d Color = %d\n", i, i)
	}
	consts.WriteString(")\n")
	writeFiles(b, dir, map[string]string{
		"go.mod":           "module example.com/bench\n\ngo 1.24\n",
		"tasks/tasks.go":   tasks.String(),
		"consts/consts.go": consts.String(),
	})
	futuresgen, stringer := buildTools(b, dir)
	var ours, theirs []time.Duration
	for b.Loop() {
		ours = append(ours, timeRun(b, filepath.Join(dir, "tasks"), futuresgen))
		theirs = append(theirs, timeRun(b, filepath.Join(dir, "consts"), stringer, "-type=Color"))
	}
	reportPair(b, "futuresgen", ours, "stringer", theirs)
}

// BenchmarkGenerateModule compares one "futuresgen ./..." over a module
// of 50 task packages with 50 runs of futuresgen, one in each package, as
// 50 "//go:generate go tool futuresgen" lines make "go generate ./..." do.
// Each iteration runs both ways; the metrics are the best time of each and
// their ratio:
//
//	go test -run '^$' -bench GenerateModule -benchtime 5x ./cmd/futuresgen
func BenchmarkGenerateModule(b *testing.B) {
	const packages, tasksEach = 50, 4
	dir := b.TempDir()
	files := map[string]string{"go.mod": "module example.com/bench\n\ngo 1.24\n"}
	var dirs []string
	for p := range packages {
		var src strings.Builder
		fmt.Fprintf(&src, "package p%d\n\nimport \"context\"\n", p)
		for i := range tasksEach {
			fmt.Fprintf(&src, "\n//futures:task\nfunc Task%d(ctx context.Context, name string, n int) (string, error) { return name, nil }\n", i)
		}
		files[fmt.Sprintf("p%d/p.go", p)] = src.String()
		dirs = append(dirs, filepath.Join(dir, fmt.Sprintf("p%d", p)))
	}
	writeFiles(b, dir, files)
	futuresgen, _ := buildTools(b, dir)
	var once, each []time.Duration
	for b.Loop() {
		once = append(once, timeRun(b, dir, futuresgen, "./..."))
		start := time.Now()
		for _, d := range dirs {
			timeRun(b, d, futuresgen)
		}
		each = append(each, time.Since(start))
	}
	reportPair(b, "one-run", once, "per-package", each)
}

func writeFiles(b *testing.B, dir string, files map[string]string) {
	b.Helper()
	for path, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, path), []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// buildTools builds futuresgen and stringer into dir, the same way, as
// release binaries.
func buildTools(b *testing.B, dir string) (futuresgen, stringer string) {
	b.Helper()
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	futuresgen, stringer = filepath.Join(dir, "futuresgen"), filepath.Join(dir, "stringer")
	for pkg, out := range map[string]string{"golang.org/x/tools/cmd/stringer": stringer, "./cmd/futuresgen": futuresgen} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Dir = root
		if msg, err := build.CombinedOutput(); err != nil {
			b.Fatalf("building %s: %v\n%s", pkg, err, msg)
		}
	}
	return futuresgen, stringer
}

// timeRun runs name in dir and returns how long it took.
func timeRun(b *testing.B, dir, name string, args ...string) time.Duration {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return d
}

// reportPair reports the best time of a and of b, in milliseconds, and
// the ratio of the two bests.
func reportPair(b *testing.B, aName string, a []time.Duration, bName string, bs []time.Duration) {
	bestA, bestB := slices.Min(a), slices.Min(bs)
	b.ReportMetric(float64(bestA)/1e6, aName+"-ms")
	b.ReportMetric(float64(bestB)/1e6, bName+"-ms")
	b.ReportMetric(float64(bestA)/float64(bestB), "ratio")
}

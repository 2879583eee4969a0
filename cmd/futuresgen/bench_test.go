package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkGenerate compares the wall time of futuresgen on a package of
// 200 tasks with that of golang.org/x/tools/cmd/stringer on a package of
// 200 constants. Both load one package with go/packages, importing the
// same package (context), and write one file; run them side by side:
//
//	go test -run '^$' -bench Generate ./cmd/futuresgen
func BenchmarkGenerate(b *testing.B) {
	const n = 200
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	dir := b.TempDir()
	var tasks, consts strings.Builder
	tasks.WriteString("package tasks\n\nimport \"context\"\n\ntype Item struct {\n\tName string\n\tTags []string\n}\n")
	consts.WriteString("package consts\n\nimport \"context\"\n\nvar _ context.Context\n\ntype Color int\n\nconst (\n")
	for i := range n {
		fmt.Fprintf(&tasks, "\n//futures:task\nfunc Task%d(ctx context.Context, it Item, n int) (Item, error) { return it, nil }\n", i)
		fmt.Fprintf(&consts, "\tColor%d Color = %d\n", i, i)
	}
	consts.WriteString(")\n")
	for path, data := range map[string]string{
		"go.mod":           "module example.com/bench\n\ngo 1.24\n",
		"tasks/tasks.go":   tasks.String(),
		"consts/consts.go": consts.String(),
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, path), []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	// Both tools are built the same way, as release binaries.
	stringer, futuresgen := filepath.Join(dir, "stringer"), filepath.Join(dir, "futuresgen")
	for pkg, out := range map[string]string{"golang.org/x/tools/cmd/stringer": stringer, "./cmd/futuresgen": futuresgen} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Dir = root
		if msg, err := build.CombinedOutput(); err != nil {
			b.Fatalf("building %s: %v\n%s", pkg, err, msg)
		}
	}

	runIn := func(b *testing.B, sub string, name string, args ...string) {
		for b.Loop() {
			cmd := exec.Command(name, args...)
			cmd.Dir = filepath.Join(dir, sub)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%s: %v\n%s", name, err, out)
			}
		}
	}
	b.Run("tool=futuresgen", func(b *testing.B) {
		runIn(b, "tasks", futuresgen)
	})
	b.Run("tool=stringer", func(b *testing.B) {
		runIn(b, "consts", stringer, "-type=Color")
	})
}

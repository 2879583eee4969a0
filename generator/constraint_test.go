package generator

import (
	"go/build/constraint"
	"go/parser"
	"go/token"
	"testing"
)

func TestFileConstraint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src  string
		want, file string // the canonical constraint and the generated file's suffix
	}{
		{"p.go", "package p\n", "", ""},
		{"p_linux.go", "package p\n", "linux", "linux"},
		{"p_windows_amd64.go", "package p\n", "windows && amd64", "windows_amd64"},
		{"p_amd64.go", "package p\n", "amd64", "amd64"},
		{"p_linux_test.go", "package p\n", "linux", "linux"},
		{"linux.go", "package p\n", "", ""},
		{"p_unix.go", "package p\n", "", ""},
		{"p_gen.go", "//go:build amd64 && linux\n\npackage p\n", "linux && amd64", "linux_amd64"},
		{"p_amd64.go", "//go:build linux\n\npackage p\n", "linux && amd64", "linux_amd64"},
		{"p_linux.go", "//go:build linux\n\npackage p\n", "linux", "linux"},
		{"p.go", "//go:build !windows\n\npackage p\n", "!windows", "not-windows"},
		{"p.go", "//go:build linux || darwin\n\npackage p\n", "darwin || linux", "darwin-or-linux"},
		{"p.go", "//go:build (linux || darwin) && !cgo\n\npackage p\n", "!cgo && (darwin || linux)", "not-cgo_darwin-or-linux"},
		{"p.go", "//go:build my_tag\n\npackage p\n", "my_tag", "my-tag"},
		{"p.go", "// +build linux\n// +build amd64\n\npackage p\n", "linux && amd64", "linux_amd64"},
		{"p.go", "// Package p is documented.\n//go:build linux\npackage p\n", "", ""},
		{"p.go", "package p\n\nimport \"C\"\n", "cgo", "cgo"},
		{"p_linux.go", "//go:build cgo\n\npackage p\n\nimport \"C\"\n", "linux && cgo", "linux_cgo"},
	}
	for _, tt := range tests {
		f, err := parser.ParseFile(token.NewFileSet(), tt.name, tt.src, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		x, err := fileConstraint("/dir/"+tt.name, f, false)
		if err != nil {
			t.Errorf("%s %q: %v", tt.name, tt.src, err)
			continue
		}
		if got := constraintText(x); got != tt.want {
			t.Errorf("%s %q: constraint %q; want %q", tt.name, tt.src, got, tt.want)
		}
		if got := fileSuffix(x); got != tt.file {
			t.Errorf("%s %q: file suffix %q; want %q", tt.name, tt.src, got, tt.file)
		}
		// A generated file named with the suffix implies nothing its
		// //go:build line does not say.
		for _, implied := range nameConstraint("futures_gen_" + tt.file + ".go") {
			if x == nil || coexist(x, &constraint.NotExpr{X: implied}) {
				t.Errorf("%s %q: futures_gen_%s.go implies %s, which %q does not", tt.name, tt.src, tt.file, implied, tt.want)
			}
		}
	}
}

func TestCoexist(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"linux", "darwin", false},
		{"linux", "unix", true},
		{"linux", "android", true}, // android builds linux files
		{"darwin", "ios", true},
		{"windows", "unix", false},
		{"windows && amd64", "windows && arm64", false},
		{"!windows", "windows", false},
		{"!windows", "linux", true},
		{"cgo", "!cgo", false},
		{"mytag", "!mytag", false},
		{"mytag", "othertag", true},
		{"go1.1", "linux", true},
		{"go1.999", "linux", false},
		{"gccgo", "linux", false},
		{"!futuresgen", "linux", false},
	}
	for _, tt := range tests {
		a, _ := constraint.Parse("//go:build " + tt.a)
		b, _ := constraint.Parse("//go:build " + tt.b)
		if got := coexist(a, b); got != tt.want {
			t.Errorf("coexist(%s, %s) = %v; want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestSatisfy(t *testing.T) {
	t.Parallel()
	host := platform{goos: "linux", goarch: "amd64", tags: map[string]bool{"extra": true}}
	tests := []struct {
		x    string
		want string
	}{
		{"linux", "GOOS=linux GOARCH=amd64 CGO_ENABLED=0 -tags=extra"},
		{"windows", "GOOS=windows GOARCH=amd64 CGO_ENABLED=0 -tags=extra"},
		{"darwin && amd64", "GOOS=darwin GOARCH=amd64 CGO_ENABLED=0 -tags=extra"},
		{"plan9", "GOOS=plan9 GOARCH=386 CGO_ENABLED=0 -tags=extra"},
		{"cgo", "GOOS=linux GOARCH=amd64 CGO_ENABLED=1 -tags=extra"},
		{"mytag && !extra", "GOOS=linux GOARCH=amd64 CGO_ENABLED=0 -tags=mytag"},
		{"ios", "GOOS=ios GOARCH=amd64 CGO_ENABLED=0 -tags=extra"},
	}
	for _, tt := range tests {
		x, err := constraint.Parse("//go:build " + tt.x)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := satisfy(host, nil, x)
		if !ok || p.String() != tt.want {
			t.Errorf("satisfy(%s) = %v, %v; want %s", tt.x, p, ok, tt.want)
		}
	}
	win, _ := constraint.Parse("//go:build windows")
	chosen := platform{goos: "windows", goarch: "arm64"}
	if p, _ := satisfy(host, []platform{chosen}, win); p.String() != chosen.String() {
		t.Errorf("satisfy chose %v; want the platform already chosen, %v", p, chosen)
	}
	if p, ok := satisfy(host, nil, &constraint.TagExpr{Tag: "go1.999"}); ok {
		t.Errorf("satisfy(go1.999) = %v; want none", p)
	}
}

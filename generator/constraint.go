package generator

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/build/constraint"
	"path/filepath"
	"slices"
	"strings"
)

// A task exists where the file declaring it is built, so its wrappers go
// to a generated file that carries the same build constraint: one file
// per distinct constraint among the files that declare tasks. The
// constraint of a file is its //go:build line (or its // +build lines),
// the GOOS and GOARCH its name implies (p_linux.go, p_windows_amd64.go)
// and cgo when it imports "C", joined with &&, in a canonical form so
// that "linux && amd64" and "amd64 && linux" are one file.

// The GOOS and GOARCH values go/build recognizes in file names
// (internal/syslist in Go 1.26).
var (
	knownOS = set("aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux",
		"nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos")
	unixOS = set("aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "linux",
		"netbsd", "openbsd", "solaris")
	knownArch = set("386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "loong64", "mips", "mipsle",
		"mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "ppc64", "ppc64le", "riscv", "riscv64", "s390",
		"s390x", "sparc", "sparc64", "wasm")
)

// ports are the GOOS/GOARCH pairs the go command builds for ("go tool
// dist list" of Go 1.26), the first three first: a constraint that does
// not hold here is checked on the first port where it holds.
var ports = []string{
	"linux/amd64", "darwin/arm64", "windows/amd64",
	"aix/ppc64", "android/386", "android/amd64", "android/arm", "android/arm64", "darwin/amd64",
	"dragonfly/amd64", "freebsd/386", "freebsd/amd64", "freebsd/arm", "freebsd/arm64", "illumos/amd64",
	"ios/amd64", "ios/arm64", "js/wasm", "linux/386", "linux/arm", "linux/arm64", "linux/loong64",
	"linux/mips", "linux/mips64", "linux/mips64le", "linux/mipsle", "linux/ppc64", "linux/ppc64le",
	"linux/riscv64", "linux/s390x", "netbsd/386", "netbsd/amd64", "netbsd/arm", "netbsd/arm64",
	"openbsd/386", "openbsd/amd64", "openbsd/arm", "openbsd/arm64", "openbsd/ppc64", "openbsd/riscv64",
	"plan9/386", "plan9/amd64", "plan9/arm", "solaris/amd64", "wasip1/wasm", "windows/386",
	"windows/arm64",
}

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// fileConstraint returns the build constraint of the Go file at path,
// parsed as f (at least its header and imports), in canonical form, or
// nil when the file is built everywhere. cgo says the file imports "C"
// (which f may no longer show once cgo has rewritten it).
func fileConstraint(path string, f *ast.File, cgo bool) (constraint.Expr, error) {
	var parts []constraint.Expr
	x, err := headerConstraint(f)
	if err != nil {
		return nil, err
	}
	if x != nil {
		parts = append(parts, x)
	}
	parts = append(parts, nameConstraint(filepath.Base(path))...)
	for _, imp := range f.Imports {
		if imp.Path.Value == `"C"` {
			cgo = true
		}
	}
	if cgo {
		parts = append(parts, &constraint.TagExpr{Tag: "cgo"})
	}
	return canonical(and(parts...)), nil
}

// headerConstraint returns the //go:build line of f, or the // +build
// lines joined with &&, or nil. As for go/build, they count only before
// the package clause and not in its doc comment.
func headerConstraint(f *ast.File) (constraint.Expr, error) {
	var plus []constraint.Expr
	for _, g := range f.Comments {
		if g.Pos() >= f.Package {
			break
		}
		if g == f.Doc {
			continue
		}
		for _, c := range g.List {
			switch {
			case constraint.IsGoBuild(c.Text):
				return constraint.Parse(c.Text)
			case constraint.IsPlusBuild(c.Text):
				x, err := constraint.Parse(c.Text)
				if err != nil {
					return nil, err
				}
				plus = append(plus, x)
			}
		}
	}
	return and(plus...), nil
}

// nameConstraint returns the tags a file name implies, as go/build reads
// them: name_GOOS.go, name_GOARCH.go, name_GOOS_GOARCH.go, each possibly
// followed by _test.
func nameConstraint(name string) []constraint.Expr {
	name, _, _ = strings.Cut(name, ".")
	i := strings.Index(name, "_")
	if i < 0 {
		return nil
	}
	l := strings.Split(name[i:], "_")
	if n := len(l); n > 0 && l[n-1] == "test" {
		l = l[:n-1]
	}
	n := len(l)
	switch {
	case n >= 2 && knownOS[l[n-2]] && knownArch[l[n-1]]:
		return []constraint.Expr{&constraint.TagExpr{Tag: l[n-2]}, &constraint.TagExpr{Tag: l[n-1]}}
	case n >= 1 && (knownOS[l[n-1]] || knownArch[l[n-1]]):
		return []constraint.Expr{&constraint.TagExpr{Tag: l[n-1]}}
	}
	return nil
}

// and joins xs with &&, or returns nil for none.
func and(xs ...constraint.Expr) constraint.Expr { return join(xs, andOp) }

// binOp is && or ||.
type binOp bool

const (
	andOp binOp = true
	orOp  binOp = false
)

func (op binOp) make(x, y constraint.Expr) constraint.Expr {
	if op == andOp {
		return &constraint.AndExpr{X: x, Y: y}
	}
	return &constraint.OrExpr{X: x, Y: y}
}

// split returns the operands of e when e is an op expression.
func (op binOp) split(e constraint.Expr) (x, y constraint.Expr, ok bool) {
	switch e := e.(type) {
	case *constraint.AndExpr:
		return e.X, e.Y, op == andOp
	case *constraint.OrExpr:
		return e.X, e.Y, op == orOp
	}
	return nil, nil, false
}

func join(xs []constraint.Expr, op binOp) constraint.Expr {
	var out constraint.Expr
	for _, x := range xs {
		if out == nil {
			out = x
		} else {
			out = op.make(out, x)
		}
	}
	return out
}

// canonical rewrites x with the operands of each run of && (and of ||)
// flattened, sorted (GOOS tags first, then GOARCH tags, then the rest)
// and without repeats.
func canonical(x constraint.Expr) constraint.Expr {
	switch x := x.(type) {
	case nil:
		return nil
	case *constraint.NotExpr:
		return &constraint.NotExpr{X: canonical(x.X)}
	case *constraint.AndExpr:
		return join(sortedOperands(x, andOp), andOp)
	case *constraint.OrExpr:
		return join(sortedOperands(x, orOp), orOp)
	}
	return x
}

// sortedOperands flattens the run of op that x starts, and canonicalizes,
// sorts and dedupes its operands.
func sortedOperands(x constraint.Expr, op binOp) []constraint.Expr {
	var ops []constraint.Expr
	var walk func(constraint.Expr)
	walk = func(x constraint.Expr) {
		if l, r, ok := op.split(x); ok {
			walk(l)
			walk(r)
			return
		}
		ops = append(ops, canonical(x))
	}
	walk(x)
	rank := func(x constraint.Expr) int {
		if t, ok := x.(*constraint.TagExpr); ok {
			switch {
			case knownOS[t.Tag]:
				return 0
			case knownArch[t.Tag]:
				return 1
			}
		}
		return 2
	}
	slices.SortStableFunc(ops, func(a, b constraint.Expr) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.String(), b.String())
	})
	return slices.CompactFunc(ops, func(a, b constraint.Expr) bool { return a.String() == b.String() })
}

// conjuncts returns the operands of x's top-level &&s (x itself if it has
// none).
func conjuncts(x constraint.Expr) []constraint.Expr {
	if x == nil {
		return nil
	}
	if l, r, ok := andOp.split(x); ok {
		return append(conjuncts(l), conjuncts(r)...)
	}
	return []constraint.Expr{x}
}

// fileSuffix turns a canonical constraint into the part of a generated
// file's name after "futures_gen_": its top-level conjuncts joined with
// "_", each written with "-" between its words ("not-windows",
// "darwin-or-linux"). A GOOS or GOARCH tag is then a whole "_" part of
// the name only where the constraint requires it, so the name never
// implies a constraint go/build would read differently from the file's
// //go:build line: futures_gen_linux_amd64.go, futures_gen_not-windows.go.
func fileSuffix(x constraint.Expr) string {
	var parts []string
	for _, c := range conjuncts(x) {
		parts = append(parts, slug(c))
	}
	return strings.Join(parts, "_")
}

func slug(x constraint.Expr) string {
	switch x := x.(type) {
	case *constraint.TagExpr:
		return strings.ReplaceAll(x.Tag, "_", "-")
	case *constraint.NotExpr:
		return "not-" + slug(x.X)
	case *constraint.AndExpr:
		return slug(x.X) + "-and-" + slug(x.Y)
	case *constraint.OrExpr:
		return slug(x.X) + "-or-" + slug(x.Y)
	}
	return "x"
}

// platform is one way to build: a GOOS/GOARCH pair, cgo on or off, and
// the other build tags that are set (BuildTag always is).
type platform struct {
	goos, goarch string
	cgo          bool
	tags         map[string]bool
}

// has reports whether tag is satisfied on p, as go/build's matchTag does.
func (p platform) has(tag string) bool {
	switch {
	case tag == p.goos || tag == p.goarch || tag == "gc" || tag == BuildTag:
		return true
	case tag == "cgo":
		return p.cgo
	case tag == "unix":
		return unixOS[p.goos]
	case tag == "linux" && p.goos == "android", tag == "solaris" && p.goos == "illumos", tag == "darwin" && p.goos == "ios":
		return true
	case knownOS[tag] || knownArch[tag] || tag == "gccgo":
		return false
	case isReleaseTag(tag):
		return slices.Contains(build.Default.ReleaseTags, tag)
	}
	return p.tags[tag]
}

func isReleaseTag(tag string) bool {
	minor, ok := strings.CutPrefix(tag, "go1.")
	if !ok || minor == "" {
		return false
	}
	for _, r := range minor {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// holds reports whether x is satisfied on p; a nil x always is.
func (p platform) holds(x constraint.Expr) bool {
	return x == nil || x.Eval(p.has)
}

// String describes p as the environment and flags that select it.
func (p platform) String() string {
	s := fmt.Sprintf("GOOS=%s GOARCH=%s CGO_ENABLED=%d", p.goos, p.goarch, map[bool]int{false: 0, true: 1}[p.cgo])
	if tags := p.tagList(); len(tags) > 0 {
		s += " -tags=" + strings.Join(tags, ",")
	}
	return s
}

// tagList returns the other tags set on p, sorted.
func (p platform) tagList() []string {
	var tags []string
	for t, on := range p.tags {
		if on {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	return tags
}

// otherTags returns the tags in xs that are neither platform nor
// toolchain tags: the ones a search may set either way.
func otherTags(xs ...constraint.Expr) []string {
	seen := map[string]bool{}
	var tags []string
	for _, x := range xs {
		var walk func(constraint.Expr)
		walk = func(x constraint.Expr) {
			switch x := x.(type) {
			case *constraint.TagExpr:
				t := x.Tag
				if seen[t] || knownOS[t] || knownArch[t] || isReleaseTag(t) ||
					t == "cgo" || t == "unix" || t == "gc" || t == "gccgo" || t == BuildTag {
					return
				}
				seen[t] = true
				tags = append(tags, t)
			case *constraint.NotExpr:
				walk(x.X)
			case *constraint.AndExpr:
				walk(x.X)
				walk(x.Y)
			case *constraint.OrExpr:
				walk(x.X)
				walk(x.Y)
			}
		}
		walk(x)
	}
	slices.Sort(tags)
	return tags
}

// maxSearchTags bounds the tags a search flips: 2^n assignments per port.
const maxSearchTags = 10

// satisfy returns a platform on which every x holds: first one of tried
// (platforms already chosen), else the first of base's GOOS/GOARCH and
// then ports, with cgo off before on, and the other tags of xs as in base
// before any of them flipped. It reports false when no platform this
// toolchain knows satisfies them all.
func satisfy(base platform, tried []platform, xs ...constraint.Expr) (platform, bool) {
	all := func(p platform) bool {
		for _, x := range xs {
			if !p.holds(x) {
				return false
			}
		}
		return true
	}
	for _, p := range tried {
		if all(p) {
			return p, true
		}
	}
	tags := otherTags(xs...)
	flips := 1 << min(len(tags), maxSearchTags)
	for _, port := range append([]string{base.goos + "/" + base.goarch}, ports...) {
		goos, goarch, _ := strings.Cut(port, "/")
		for _, cgo := range []bool{false, true} {
			for mask := range flips {
				p := platform{goos: goos, goarch: goarch, cgo: cgo, tags: map[string]bool{}}
				for t, on := range base.tags {
					p.tags[t] = on
				}
				for i, t := range tags {
					p.tags[t] = base.tags[t] != (mask&(1<<i) != 0)
				}
				if all(p) {
					return p, true
				}
			}
		}
	}
	return platform{}, false
}

// coexist reports whether a and b can hold in one build: whether code
// under the two constraints is ever compiled together.
func coexist(a, b constraint.Expr) bool {
	if a == nil || b == nil {
		return true
	}
	_, ok := satisfy(platform{goos: "linux", goarch: "amd64"}, nil, a, b)
	return ok
}

// constraintText returns the canonical text of x, "" for nil.
func constraintText(x constraint.Expr) string {
	if x == nil {
		return ""
	}
	return x.String()
}

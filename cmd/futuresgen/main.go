// Futuresgen writes typed wrappers for the Go functions marked
// //futures:task, so that they run on the executors of
// github.com/futuresgen/futuresgen/runtime: goroutine pools, worker
// processes, and worker processes on other machines (package cluster).
//
// Given a package with
//
//	package shop
//
//	//go:generate go tool futuresgen
//
//	//futures:task
//	func Fetch(ctx context.Context, url string, retries int) (Page, error) { … }
//
//	//futures:task
//	func Square(x int) int { return x * x }
//
// "go generate" writes futures_gen.go beside it, declaring
//
//	func SubmitFetch(ctx context.Context, ex runtime.Executor, url string, retries int) *runtime.Future[Page]
//	func MapFetch(ctx context.Context, ex runtime.Executor, args iter.Seq[FetchArgs], opts ...runtime.MapOption) iter.Seq2[Page, error]
//	type FetchArgs struct{ URL string; Retries int }
//	func SubmitSquare(ctx context.Context, ex runtime.Executor, x int) *runtime.Future[int]
//	func MapSquare(ctx context.Context, ex runtime.Executor, xs iter.Seq[int], opts ...runtime.MapOption) iter.Seq2[int, error]
//
// and a dispatch table that registers each task under a stable name,
// "<import path>.<FuncName>", so that a worker process can run it.
//
// Install it as a tool of your module, which pins it with the runtime:
//
//	go get -tool github.com/futuresgen/futuresgen/cmd/futuresgen
//
// # The directive
//
// //futures:task goes in the function's doc comment, with no space after
// "//". Options follow it, separated by spaces:
//
//	name=<stable name>  register under this name instead (letters, digits and . / _ -)
//	local               the task may take values that cannot cross a process
//	                    boundary (channels, funcs, interfaces, structs with
//	                    unexported fields); it runs only on in-process executors
//
// # The shapes it accepts
//
// Parameters: an optional first context.Context, which receives a context
// that ends with the submit context or a CancelPending shutdown; then any
// parameters. An unexported function fetch gets submitFetch, mapFetch and
// fetchArgs. A task with one parameter maps over iter.Seq of its type,
// with two or more over iter.Seq[XArgs] (fields named after the
// parameters, first letter upper-cased; unnamed ones P0, P1, …), with none
// it gets SubmitX only. A variadic last parameter ...T is a []T in XArgs
// and in MapX's input. Fields are written as Go writes initialisms: url
// gives URL, userId UserID, httpClient HTTPClient.
//
// Results: none, (R), (error), (R, error), or several values with or
// without a final error, which come in a generated XResult struct (fields
// from the result names, else R0, R1, …).
//
// Refused, with a compiler-style error at the offending spot: methods,
// generic functions, an error result that is not last, a context.Context
// that is not the first parameter, directives in _test.go files (the
// generated file cannot refer to test functions), generated names that
// collide with the package's own declarations, and — unless the directive
// says local — any parameter or result that cannot cross a process
// boundary: chan, func, unsafe.Pointer, interfaces (any, error), or structs
// with unexported fields, found through pointers, slices, arrays, maps and
// named types. A named type that encodes itself (MarshalBinary and
// UnmarshalBinary, or GobEncode and GobDecode, as time.Time does) is
// accepted whatever its fields.
//
// Packages are loaded with the build tag "futuresgen", and generated files
// carry "//go:build !futuresgen": a stale or broken generated file never
// stops regeneration, and code that calls a SubmitX about to be generated
// (or no longer generated) does not stop it either; the latter is a
// warning.
//
// # Tasks for some platforms only
//
// A task exists where the file declaring it is built, and so do its
// wrappers: the tasks of files with a build constraint — a //go:build line,
// a GOOS or GOARCH in the file name (p_linux.go, p_windows_amd64.go), cgo
// for a file that imports "C" — go to a generated file of their own for
// each distinct constraint, which carries it:
//
//	p.go                 futures_gen.go                //go:build !futuresgen
//	p_linux.go           futures_gen_linux.go          //go:build !futuresgen && linux
//	p_windows_amd64.go   futures_gen_windows_amd64.go  //go:build !futuresgen && windows && amd64
//	//go:build !windows  futures_gen_not-windows.go    //go:build !futuresgen && !windows
//
// The name's suffix is the constraint, its conjuncts joined with "_" and
// the words within one with "-", so that the name never implies a GOOS or
// GOARCH the constraint does not require. One run, on any platform, writes
// every file: tasks in files this platform does not build are type-checked
// against their package as built for the first platform that builds them
// (this one with other tags, linux/amd64, darwin/arm64, windows/amd64, then
// every port go knows), in one more load per such platform. A function
// declared once for linux and once for darwin is one task in two files
// never compiled together. Generated names are checked against the
// declarations of every file built together with them, on any platform.
// When the last task under a constraint goes, its file is removed (and
// -check reports it). As with "go build ./...", a package none of whose
// files this platform builds is not matched by "./..."; name it, or set
// GOOS.
//
// # Errors
//
// A task's error keeps its identity across a process boundary, as Python's
// pickled exceptions keep their class: the generated init registers, with
// the runtime, the package's exported sentinels (var ErrX =
// errors.New(…), or fmt.Errorf without %w), its exported error types T
// (and *T; only *T for a pointer receiver) whose values can be encoded,
// one exported field of type error (the cause) aside, and the exported
// error variables of other packages that its code names (sql.ErrNoRows in
// fmt.Errorf("lookup: %w", sql.ErrNoRows)). So errors.Is and errors.As
// answer on a worker's error as on a ThreadPool's. Each is registered in
// the generated file of the build constraint of the file that declares or
// names it, one of its own when no task is declared under that
// constraint. A type whose values cannot be encoded, or a generic one, is
// left out without a word (its values cross as text) unless a task's
// signature names it. A sentinel the package never names, deep in a
// library, needs runtime.RegisterError.
//
// # Many packages
//
// "futuresgen ./..." loads every matched package at once, writes each
// package's files, and reports a stable name that two tasks register
// under, in one package or in two, with both positions (unless their files
// are never built together); then nothing is written. A module with many
// task packages generates faster with one such run, from one
// "//go:generate go tool futuresgen ./..." line at its root, than with a
// //go:generate line in each package, each of which loads its package
// anew; both work.
//
// # Usage
//
//	futuresgen [flags] [packages]
//
// With no packages, it works on the package in the current directory. It
// writes the files of each package that has tasks, skipping a write when
// the bytes are unchanged, and removes an earlier output that is no longer
// needed (only a file named after -output whose first line is the
// futuresgen header). When any task is wrong it writes nothing.
//
// The flags are:
//
//	-check     write nothing; exit 0 if every generated file is fresh, 1 with a
//	           unified diff if not, 2 on error (for CI)
//	-output f  the file name to write in each package (default futures_gen.go);
//	           files for build constraints are named f_<suffix>.go
//	-tags t    extra comma-separated build tags for loading the packages
//	-v         say what was written, left alone or removed
//	-version   print the version and exit
//
// Exit status: 0 on success, 1 when a task is wrong (or -check finds a
// stale file), 2 for a usage error (or any error under -check).
package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
)

func main() {
	fewerCollections()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// startingHeap is how much the heap may grow before the first garbage
// collection: more than a run over a few packages needs (a package of 200
// tasks peaks near 30 MB).
const startingHeap = 128 << 20

// fewerCollections lets the heap grow to startingHeap before collecting
// at all, as the compiler does for short runs (cmd/compile's
// AdjustStartingHeap), and then collects as usual (GOGC=100): a run of a
// package or two never stops to collect, a big run keeps its usual
// memory. GOGC or GOMEMLIMIT in the environment leave the collector alone.
func fewerCollections() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(startingHeap)
	// The first collection finds this unreachable and runs the finalizer.
	runtime.SetFinalizer(new([64]byte), func(*[64]byte) {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
	})
}

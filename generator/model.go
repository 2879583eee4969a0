package generator

import (
	"go/token"
	"go/types"
)

// Package is one Go package and the generated files its tasks need: the
// model the templates write code from.
type Package struct {
	Name    string // the package name, as in its package clause
	PkgPath string // the import path
	Dir     string // the directory holding its files
	// Files are the package's generated files, one per distinct build
	// constraint among the files that declare its tasks, sorted by
	// Suffix: the file for tasks built everywhere, if any, comes first.
	// A package without tasks has none.
	Files []*File
	// Declared holds every name declared at package level by the
	// package's Go files, for any platform and outside the generated
	// files, so that generated imports and names avoid them.
	Declared map[string]bool
}

// File is one generated file: the tasks of a package that are declared
// in files with the same build constraint, so that their wrappers are
// built exactly where the tasks are.
type File struct {
	// Constraint is that build constraint in canonical form, as a
	// //go:build line writes it ("linux", "windows && amd64",
	// "!windows"); "" for tasks in files built everywhere.
	Constraint string
	// Suffix tells the file's name from the others': "" for the one
	// without a constraint (futures_gen.go), else the constraint in a
	// form that fits a file name ("linux" for futures_gen_linux.go,
	// "windows_amd64", "not-windows", "darwin-or-linux").
	Suffix string
	// Platform is where the tasks were type-checked when the constraint
	// does not hold here: the environment and tags of that load, such as
	// "GOOS=windows GOARCH=amd64 CGO_ENABLED=0"; "" for this platform.
	Platform string
	// Types is the type-checked package on that platform; task types
	// refer to it.
	Types *types.Package
	// Tasks are the file's tasks, sorted by function name. A file may
	// have none and only register errors: those declared (or named) in
	// files of a constraint under which no task is declared.
	Tasks []*Task
	// Sentinels and ErrorTypes are the errors the file registers at init,
	// so that they keep their identity across a process boundary (see
	// futuresimpl's RegisterSentinel and RegisterErrorType): those
	// declared, or for sentinels of other packages named, in the
	// package's files with this build constraint. Each is sorted by Name.
	Sentinels  []Sentinel
	ErrorTypes []ErrorType
}

// Sentinel is an exported error variable that a generated file registers:
// one of the package's own (var ErrX = errors.New(…), or fmt.Errorf
// without %w), or one of another package that the package's code names
// (sql.ErrNoRows).
type Sentinel struct {
	Name string     // the registered name: "<import path>.<Var>"
	Var  *types.Var // the package-level variable
}

// ErrorType is an exported error type of the package, T or *T, whose
// values gob can encode (a struct's one exported field of type error, its
// cause, aside): a generated file registers it so that its values cross
// as values and errors.As finds them.
type ErrorType struct {
	Name string     // the registered name: "<import path>.<Type>", or "*<import path>.<Type>"
	Type types.Type // T or *T
}

// Task is one //futures:task function.
type Task struct {
	Func      string         // the function's name
	Name      string         // the stable name the task registers under
	Local     bool           // "local": runs only in-process
	Pos       token.Position // the function's name
	Context   bool           // the first parameter is a context.Context
	Variadic  bool           // the last parameter is variadic (...T)
	Params    []Param        // the parameters, without the context
	Results   []Result       // the results, without the final error
	HasError  bool           // the last result is an error
	Signature *types.Signature

	// The names of the generated declarations: SubmitX, MapX, XArgs,
	// XResult, the task variable (futuresTask_X) and the adapter the
	// dispatch table registers (futuresRun_X). SubmitX, MapX, XArgs and
	// XResult are exported for an exported function, unexported
	// otherwise; MapName, ArgsName and ResultName are "" when the task
	// does not get them.
	SubmitName, MapName, ArgsName, ResultName, VarName, RunName string
}

// Param is a task parameter (other than its leading context).
type Param struct {
	Name  string     // the name in the generated wrappers: the parameter's, or p0, p1, …
	Field string     // the field in XArgs: the name as an exported field (url → URL, userId → UserID), or P0, P1, …
	Type  types.Type // for a variadic parameter ...T, the slice type []T
}

// Result is a task result (other than a final error).
type Result struct {
	Field string // the field in XResult: the result's name as an exported field, or R0, R1, …
	Type  types.Type
}

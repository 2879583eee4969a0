package generator

import (
	"go/token"
	"go/types"
)

// Package is one Go package with its tasks: the model the templates write
// code from.
type Package struct {
	Name    string // the package name, as in its package clause
	PkgPath string // the import path
	Dir     string // the directory holding its files
	// Types is the type-checked package; task types refer to it.
	Types *types.Package
	// Tasks are the package's tasks, sorted by function name.
	Tasks []*Task
	// Declared holds every name declared at package level, outside the
	// generated file, so that generated imports and names avoid them.
	Declared map[string]bool
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
	// XResult and the task variable. Exported for an exported function,
	// unexported otherwise. MapName, ArgsName and ResultName are "" when
	// the task does not get them.
	SubmitName, MapName, ArgsName, ResultName, VarName string
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

// Package generator reads what futuresgen generates from: it loads
// packages with golang.org/x/tools/go/packages, finds the functions marked
// //futures:task, checks each signature and every type that must cross a
// process boundary, and builds the task model (Package, File, Task) that
// package templates writes code from. Problems are positioned Diagnostics,
// reported like compiler errors.
//
// A task's wrappers must be built exactly where the task is, so the model
// groups a package's tasks by the build constraint of the files that
// declare them, one File each. Tasks in files the current platform does
// not build are read from one more load per platform that builds them; see
// Load.
//
// Each File also lists the errors its generated init registers, so that
// they keep their identity across a process boundary: the package's
// exported sentinels and encodable error types, and the error variables
// of other packages that its code names, each in the File of the
// constraint of the file that declares or names it (see errs.go).
package generator

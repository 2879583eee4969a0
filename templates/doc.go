// Package templates writes the code futuresgen generates: for each task of
// a generator.Package, the XArgs and XResult structs, the SubmitX and MapX
// wrappers, and the dispatch table that registers the task with the
// runtime. It is pure: functions from the task model to *jen.File, with no
// I/O, so the output depends on the model alone.
package templates

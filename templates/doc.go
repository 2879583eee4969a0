// Package templates writes the code futuresgen generates: for each
// generator.File of a package (its tasks under one build constraint), the
// XArgs and XResult structs, the SubmitX and MapX wrappers, and the
// dispatch table that registers each task with the runtime through its
// adapter, and the file's errors after them. It is pure: functions from the task model to *jen.File (File)
// and to formatted source (Render), with no I/O, so the output depends on
// the model alone.
package templates

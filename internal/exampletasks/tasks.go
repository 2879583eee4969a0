// Package exampletasks holds the tasks that the examples of package
// runtime and of the cluster module run: plain functions marked
// //futures:task, with the wrappers that go generate writes for them
// beside them (futures_gen.go), so that the examples show what a user
// writes and calls, as gomock's examples use generated mocks.
package exampletasks

import "strings"

//go:generate go tool futuresgen

// WordCount returns the number of words in text.
//
//futures:task
func WordCount(text string) int { return len(strings.Fields(text)) }

package task

import (
	"fmt"
	"reflect"
)

// CannotCross is the error of a value that did not encode: it names the
// task, what the value is, its type, and gob's reason.
func CannotCross(task, what string, t reflect.Type, err error) error {
	return fmt.Errorf("futuresgen: the %s of task %s (%s) cannot cross the process boundary: %w", what, task, t, err)
}

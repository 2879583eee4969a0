package runtime

import "fmt"

// State is where a future is in its life. A future starts Pending, becomes
// Running when a worker picks it up, and ends Finished (with a value or an
// error) or Cancelled. Finished and Cancelled are final.
type State uint32

// The states of a future.
const (
	// Pending: submitted, waiting for a worker. Only a Pending future can be
	// cancelled.
	Pending State = iota
	// Running: a worker is running the task.
	Running
	// Finished: the task returned, failed or panicked, or it never started
	// because its context ended or its executor refused it.
	Finished
	// Cancelled: cancelled while Pending; the task never ran.
	Cancelled
)

// String returns the state's name: "Pending", "Running", "Finished" or
// "Cancelled".
func (s State) String() string {
	switch s {
	case Pending:
		return "Pending"
	case Running:
		return "Running"
	case Finished:
		return "Finished"
	case Cancelled:
		return "Cancelled"
	}
	return fmt.Sprintf("State(%d)", uint32(s))
}

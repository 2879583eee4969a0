package runtime

// LabelTask is the pprof label key under which a running task's name
// appears in CPU and goroutine profiles: the registered name of a generated
// task, or the function name of a closure given to Submit.
const LabelTask = "futures.task"

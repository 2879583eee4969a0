package registry

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"syscall"
	"time"

	futureserrs "github.com/futuresgen/futuresgen/internal/errs"
)

// NamedError is a sentinel and the name it is registered under.
type NamedError struct {
	Name string
	Err  error
}

// The standard library's common sentinels and error types keep their
// identity across a boundary without any registration by the user.
// StdSentinels lists the sentinels, as the README documents them.
var StdSentinels = []NamedError{
	{"context.Canceled", context.Canceled},
	{"context.DeadlineExceeded", context.DeadlineExceeded},
	{"io.EOF", io.EOF},
	{"io.ErrUnexpectedEOF", io.ErrUnexpectedEOF},
	{"io.ErrClosedPipe", io.ErrClosedPipe},
	{"io.ErrShortWrite", io.ErrShortWrite},
	{"io.ErrShortBuffer", io.ErrShortBuffer},
	{"io.ErrNoProgress", io.ErrNoProgress},
	{"io/fs.ErrNotExist", fs.ErrNotExist},
	{"io/fs.ErrExist", fs.ErrExist},
	{"io/fs.ErrPermission", fs.ErrPermission},
	{"io/fs.ErrInvalid", fs.ErrInvalid},
	{"io/fs.ErrClosed", fs.ErrClosed},
	{"os.ErrDeadlineExceeded", os.ErrDeadlineExceeded},
	{"os.ErrProcessDone", os.ErrProcessDone},
	{"os.ErrNoDeadline", os.ErrNoDeadline},
	{"os/exec.ErrNotFound", exec.ErrNotFound},
	{"os/exec.ErrWaitDelay", exec.ErrWaitDelay},
	{"os/exec.ErrDot", exec.ErrDot},
	{"errors.ErrUnsupported", errors.ErrUnsupported},
	{"strconv.ErrRange", strconv.ErrRange},
	{"strconv.ErrSyntax", strconv.ErrSyntax},
	{"bufio.ErrTooLong", bufio.ErrTooLong},
	{"bufio.ErrBufferFull", bufio.ErrBufferFull},
	{"bufio.ErrNegativeCount", bufio.ErrNegativeCount},
	{"bytes.ErrTooLarge", bytes.ErrTooLarge},
}

// StdErrorTypes lists the standard library's error types whose values
// cross as values (their wrapped cause included), so errors.As finds a
// *fs.PathError from a worker as it does in-process.
var StdErrorTypes = []struct {
	Name string
	Type reflect.Type
}{
	{"*io/fs.PathError", reflect.TypeFor[*fs.PathError]()},
	{"*os.LinkError", reflect.TypeFor[*os.LinkError]()},
	{"*os.SyscallError", reflect.TypeFor[*os.SyscallError]()},
	{"*os/exec.Error", reflect.TypeFor[*exec.Error]()},
	{"*strconv.NumError", reflect.TypeFor[*strconv.NumError]()},
	{"*net/url.Error", reflect.TypeFor[*url.Error]()},
	{"net/url.EscapeError", reflect.TypeFor[url.EscapeError]()},
	{"net/url.InvalidHostError", reflect.TypeFor[url.InvalidHostError]()},
	{"*time.ParseError", reflect.TypeFor[*time.ParseError]()},
	{"syscall.Errno", reflect.TypeFor[syscall.Errno]()},
}

// runtimeErrors are the runtime's own sentinels, under the names that
// generated code gives them, and the type behind ErrWorkerDied's details:
// a task that waits on a future of a pool of its own returns them too.
var runtimeErrors = []NamedError{
	{"github.com/futuresgen/futuresgen/runtime.ErrCancelled", futureserrs.Cancelled},
	{"github.com/futuresgen/futuresgen/runtime.ErrShutdown", futureserrs.Shutdown},
	{"github.com/futuresgen/futuresgen/runtime.ErrBrokenPool", futureserrs.BrokenPool},
	{"github.com/futuresgen/futuresgen/runtime.ErrWorkerDied", futureserrs.WorkerDied},
}

func init() {
	for _, s := range runtimeErrors {
		RegisterSentinel(s.Name, s.Err)
	}
	RegisterErrorType("*github.com/futuresgen/futuresgen/internal/errs.WorkerLost", reflect.TypeFor[*futureserrs.WorkerLost]())
	for _, s := range StdSentinels {
		RegisterSentinel(s.Name, s.Err)
	}
	for _, t := range StdErrorTypes {
		RegisterErrorType(t.Name, t.Type)
	}
}

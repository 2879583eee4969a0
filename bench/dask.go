package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daskScript measures Dask distributed's LocalCluster on bench's
// workloads; see its docstring for what it prints.
//
//go:embed dask_bench.py
var daskScript []byte

// daskPython is the interpreter that sees Debian's python3-distributed;
// the python3 first on the PATH may be another one that does not.
const daskPython = "/usr/bin/python3"

// daskWorkloads are the workloads dask_bench.py measures.
var daskWorkloads = []string{"cluster-trivial", "cluster-one-at-a-time", "cluster-sha256-64KiB", "cluster-start", "cluster-4x500ms"}

// daskResults runs dask_bench.py (with -quick when quick, repeat runs of
// each measurement, and only the daskWorkloads that selected lets run)
// and returns its measurements as results: system dask-localcluster…,
// allocs -1. When Dask cannot be imported it returns no results and a
// note saying why (install with apt-get install -y python3-distributed);
// err is for a run that started and failed. The run is bounded: 2 minutes
// with quick, 15 without.
func daskResults(quick bool, repeat int, selected func(string) bool) (rs []result, note string, err error) {
	if out, err := exec.Command(daskPython, "-c", "import distributed").CombinedOutput(); err != nil {
		return nil, fmt.Sprintf("dask: skipped, %s cannot import distributed (apt-get install -y python3-distributed): %s",
			daskPython, strings.TrimSpace(lastLine(out))), nil
	}
	dir, err := os.MkdirTemp("", "futuresgen-bench-dask")
	if err != nil {
		return nil, "", fmt.Errorf("dask: %w", err)
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "dask_bench.py")
	if err := os.WriteFile(script, daskScript, 0o644); err != nil {
		return nil, "", fmt.Errorf("dask: %w", err)
	}
	var workloads []string
	for _, w := range daskWorkloads {
		if selected(w) {
			workloads = append(workloads, w)
		}
	}
	limit, args := 15*time.Minute, []string{script, "-repeat", strconv.Itoa(max(repeat, 1)), "-only", strings.Join(workloads, ",")}
	if quick {
		limit, args = 2*time.Minute, append(args, "-quick")
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, daskPython, args...)
	// Dask's scheduler and workers are the script's children: on a time-out
	// the whole process group goes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	rs, parseErr := parseDask(out)
	if runErr != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			runErr = fmt.Errorf("took longer than %v", limit)
		}
		return rs, "", fmt.Errorf("dask: %s: %v: %s", script, runErr, strings.TrimSpace(lastLine(stderr.Bytes())))
	}
	return rs, "", parseErr
}

// parseDask reads the script's lines, "system workload ns allocs
// [key=value …]"; lines starting with # are comments. A line with
// floor=1 is a floor, not a peer.
func parseDask(out []byte) ([]result, error) {
	var rs []result
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			return rs, fmt.Errorf("dask: line %q: want system workload ns_per_task allocs_per_task [key=value …]", line)
		}
		ns, err1 := strconv.ParseFloat(f[2], 64)
		allocs, err2 := strconv.ParseFloat(f[3], 64)
		if err := errors.Join(err1, err2); err != nil {
			return rs, fmt.Errorf("dask: line %q: %w", line, err)
		}
		rs = append(rs, result{system: f[0], workload: f[1], ns: ns, allocs: allocs, extra: strings.Join(f[4:], " "),
			floor: slices.Contains(f[4:], "floor=1")})
	}
	return rs, sc.Err()
}

// lastLine returns the last non-empty line of out: a Python traceback's
// message.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

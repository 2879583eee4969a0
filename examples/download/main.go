// Command download is concurrent.futures' classic example in Go: download
// a few files on a pool of five threads, first with SubmitDownload and
// AsCompleted, printing each file as it finishes, then with MapDownload
// under a 60-second deadline, printing in input order. The files come from
// a local test server, so no network is needed. Last, it shows the nested
// wait that deadlocks Python's ThreadPoolExecutor completing here.
//
//	go run ./examples/download
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
)

//go:generate go tool futuresgen

// Download fetches url and writes its body to a file named after it in
// dir. It fails for a URL whose name has no extension.
//
//futures:task
func Download(ctx context.Context, url, dir string) (string, error) {
	name := path.Base(url)
	if path.Ext(name) == "" {
		return "", fmt.Errorf("%s: no file extension in %q", url, name)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return "", err
	}
	return name, f.Close()
}

// Fanout downloads urls from inside a task of the same pool, waiting on
// them: with one worker, Python's ThreadPoolExecutor deadlocks here. With
// the context the pool gave it, futuresgen runs the inner tasks inline.
//
//futures:task local
func Fanout(ctx context.Context, ex runtime.Executor, urls []string, dir string) (int, error) {
	var fs []*runtime.Future[string]
	for _, u := range urls {
		fs = append(fs, SubmitDownload(ctx, ex, u, dir))
	}
	n := 0
	for _, f := range fs {
		if _, err := f.Result(ctx); err == nil {
			n++
		}
	}
	return n, nil
}

// files is what the test server serves.
var files = map[string]string{
	"/report.pdf": "%PDF-1.7 a small report",
	"/photo.jpg":  "\xff\xd8\xff a small photo",
	"/data.csv":   "a,b\n1,2\n",
	"/notes.txt":  "remember the milk",
	"/download":   "this URL has no extension",
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "download:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		time.Sleep(time.Duration(len(body)) * time.Millisecond) // a little latency, larger files slower
		io.WriteString(w, body)
	}))
	defer srv.Close()
	dir, err := os.MkdirTemp("", "futuresgen-download-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var urls []string
	for p := range files {
		urls = append(urls, srv.URL+p)
	}
	slices.Sort(urls)

	ctx := context.Background()
	pool := runtime.NewThreadPool(runtime.MaxWorkers(5))
	defer pool.Close()

	fmt.Fprintln(out, "== SubmitDownload + AsCompleted (completion order)")
	byFuture := map[*runtime.Future[string]]string{}
	var fs []*runtime.Future[string]
	for _, u := range urls {
		f := SubmitDownload(ctx, pool, u, dir)
		byFuture[f] = u
		fs = append(fs, f)
	}
	for f, err := range runtime.AsCompleted(ctx, fs...) {
		if err != nil {
			return err
		}
		name, err := f.Result(ctx)
		if err != nil {
			fmt.Fprintf(out, "Failed %s: %v\n", path.Base(byFuture[f]), err)
			continue
		}
		fmt.Fprintf(out, "Finished downloading %s\n", name)
	}

	fmt.Fprintln(out, "== MapDownload under a 60s deadline (input order)")
	ctx60, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	args := func(yield func(DownloadArgs) bool) {
		for _, u := range urls {
			if !yield(DownloadArgs{URL: u, Dir: dir}) {
				return
			}
		}
	}
	for name, err := range MapDownload(ctx60, pool, args) {
		if errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if err != nil {
			fmt.Fprintf(out, "Failed: %v\n", err)
			continue
		}
		fmt.Fprintf(out, "Downloaded %s\n", name)
	}

	fmt.Fprintln(out, "== A task waiting on tasks of its own one-worker pool")
	one := runtime.NewThreadPool(runtime.MaxWorkers(1))
	defer one.Close()
	n, err := SubmitFanout(ctx, one, one, urls, dir).Result(ctx)
	fmt.Fprintf(out, "Fanout downloaded %d of %d files, no deadlock\n", n, len(urls))
	return err
}

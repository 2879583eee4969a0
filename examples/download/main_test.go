package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestDownload(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	sections := strings.Split(out.String(), "== ")
	if len(sections) != 4 {
		t.Fatalf("want three sections; output:\n%s", out.String())
	}

	// AsCompleted's order depends on timing: compare as a set.
	got := strings.Split(strings.TrimSpace(sections[1]), "\n")[1:]
	for i, line := range got {
		if strings.HasPrefix(line, "Failed download: ") {
			got[i] = "Failed download: " + line[strings.Index(line, "no file extension"):]
		}
	}
	slices.Sort(got)
	want := []string{
		`Failed download: no file extension in "download"`,
		"Finished downloading data.csv",
		"Finished downloading notes.txt",
		"Finished downloading photo.jpg",
		"Finished downloading report.pdf",
	}
	if !slices.Equal(got, want) {
		t.Errorf("AsCompleted section = %q; want %q in some order", got, want)
	}

	// MapDownload keeps the input order.
	lines := strings.Split(strings.TrimSpace(sections[2]), "\n")[1:]
	if len(lines) != 5 || lines[0] != "Downloaded data.csv" || !strings.HasSuffix(lines[1], `no file extension in "download"`) ||
		lines[2] != "Downloaded notes.txt" || lines[3] != "Downloaded photo.jpg" || lines[4] != "Downloaded report.pdf" {
		t.Errorf("MapDownload section is not in input order:\n%s", sections[2])
	}

	if !strings.Contains(sections[3], "Fanout downloaded 4 of 5 files, no deadlock") {
		t.Errorf("nested-wait section:\n%s", sections[3])
	}
}

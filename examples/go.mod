module github.com/futuresgen/futuresgen/examples

go 1.24.0

require (
	github.com/futuresgen/futuresgen v0.0.0
	github.com/schollz/progressbar/v3 v3.18.0
	golang.org/x/term v0.39.0
)

require (
	github.com/dave/jennifer v1.7.1 // indirect
	github.com/mitchellh/colorstring v0.0.0-20190213212951-d06e56a500db // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	github.com/rivo/uniseg v0.4.7 // indirect
	golang.org/x/mod v0.33.0 // indirect
	golang.org/x/sync v0.19.0 // indirect
	golang.org/x/sys v0.41.0 // indirect
	golang.org/x/tools v0.42.0 // indirect
)

replace github.com/futuresgen/futuresgen => ../

tool github.com/futuresgen/futuresgen/cmd/futuresgen

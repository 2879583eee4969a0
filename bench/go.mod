module github.com/futuresgen/futuresgen/bench

go 1.24.0

require (
	github.com/alitto/pond/v2 v2.7.1
	github.com/futuresgen/futuresgen v0.0.0
	github.com/fxamacker/cbor/v2 v2.9.0
	github.com/panjf2000/ants/v2 v2.12.1
	github.com/sourcegraph/conc v0.3.0
	github.com/vmihailenco/msgpack/v5 v5.4.1
	golang.org/x/sync v0.19.0
)

require (
	github.com/dave/jennifer v1.7.1 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	go.uber.org/atomic v1.7.0 // indirect
	go.uber.org/multierr v1.9.0 // indirect
	golang.org/x/mod v0.33.0 // indirect
	golang.org/x/tools v0.42.0 // indirect
)

replace github.com/futuresgen/futuresgen => ../

tool github.com/futuresgen/futuresgen/cmd/futuresgen

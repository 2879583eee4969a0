module github.com/futuresgen/futuresgen/bench

go 1.26.0

require (
	github.com/alitto/pond/v2 v2.7.1
	github.com/futuresgen/futuresgen v0.0.0
	github.com/futuresgen/futuresgen/cluster v0.0.0
	github.com/fxamacker/cbor/v2 v2.9.0
	github.com/panjf2000/ants/v2 v2.12.1
	github.com/sourcegraph/conc v0.3.0
	github.com/vmihailenco/msgpack/v5 v5.4.1
	golang.org/x/sync v0.19.0
)

require (
	github.com/antithesishq/antithesis-sdk-go v0.8.0-default-no-op // indirect
	github.com/google/go-tpm v0.9.8 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/minio/highwayhash v1.0.4 // indirect
	github.com/nats-io/jwt/v2 v2.8.2 // indirect
	github.com/nats-io/nats-server/v2 v2.15.2
	github.com/nats-io/nats.go v1.55.0
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/time v0.16.0 // indirect
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

replace github.com/futuresgen/futuresgen/cluster => ../cluster

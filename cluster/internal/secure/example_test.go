package secure_test

import (
	"fmt"

	"github.com/futuresgen/futuresgen/cluster/internal/secure"
)

func ExampleJoin() {
	secret, _ := secure.ParseSecret("fgw_ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	j := secure.Join{TLS: true, Addr: "10.0.0.5:4222", Namespace: "futures", Secret: secret}
	fmt.Println(j)             // for logs: redacted
	fmt.Println(j.Reveal())    // for the other host: treat it as a password
	fmt.Println(j.ServerURL()) // what nats.go dials
	fmt.Printf("%v\n", secret) // a Secret never prints
	// Output:
	// tls://fgw_REDACTED@10.0.0.5:4222/futures
	// tls://fgw_ABCDEFGHIJKLMNOPQRSTUVWXYZ@10.0.0.5:4222/futures
	// tls://10.0.0.5:4222
	// fgw_REDACTED
}

func ExampleRedact() {
	fmt.Println(secure.Redact("nats://alice:s3cret@10.0.0.5:4222,nats://10.0.0.6:4222"))
	// Output: nats://REDACTED@10.0.0.5:4222,nats://10.0.0.6:4222
}

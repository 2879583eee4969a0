package dashboard_test

import (
	"fmt"
	"net/http"

	"github.com/futuresgen/futuresgen/dashboard"
	"github.com/futuresgen/futuresgen/runtime"
)

// A dashboard mounted under a prefix of a program's own server, on the
// loopback address.
func ExampleNew() {
	pool := runtime.NewThreadPool()
	defer pool.Close()

	mux := http.NewServeMux()
	mux.Handle("/futures/", http.StripPrefix("/futures", dashboard.New(pool)))
	go http.ListenAndServe("127.0.0.1:8787", mux)
	fmt.Println("dashboard: http://127.0.0.1:8787/futures/")

	// … submit work to pool, and watch it in the browser.
}

// A dashboard reachable from other machines: with a token, which the URL
// to print carries; the page keeps it in a cookie.
func ExampleToken() {
	pool := runtime.NewThreadPool()
	defer pool.Close()

	token := "b2f0c5e0a4d94b1c8e7a6f3d2c1b0a99" // use crypto/rand: 128 bits or more
	h := dashboard.New(pool, dashboard.Token(token), dashboard.AllowHosts("build-7.example.com"))
	go http.ListenAndServe(":8787", h)
	fmt.Println("dashboard: http://build-7.example.com:8787/?token=" + token)
}

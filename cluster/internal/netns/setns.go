package netns

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread that has joined h's network namespace, and
// returns its error. Sockets fn makes belong to h for their whole life,
// wherever they are used afterwards; so a listener or connection made in
// fn can be served from any goroutine of this process.
//
// The thread is never returned to the Go scheduler: it ends with fn's
// goroutine. fn must not start processes (their parent thread dies with
// it) and must not rely on goroutines it starts being in h.
func (h *Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread exits with this goroutine, so no
		// other goroutine ever runs in h's namespace by accident.
		fd, err := unix.Open("/run/netns/"+h.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netns: opening namespace %s: %w", h.Name, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("netns: joining namespace %s: %w", h.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Listen listens on address inside h, as net.Listen does.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := h.Do(func() (err error) {
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// DialContext connects from inside h, as net.Dialer.DialContext does.
// The address must be a literal IP and port: name resolution could run on
// other threads, outside h.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Package worker is the worker's side of the protocol, for every
// transport: what a worker runs, holds and owes each executor.
//
// A Worker holds the state: its slots, the calls running, the calls sent
// ahead that wait for a slot (or a grant), and one Session per executor it
// serves, through which the transport hands it each message the executor
// sends (Receive, Cancel, Revoke, Grant, Bye) and the answers of the calls
// it ran (Finish). The Worker decides; the transport only moves bytes:
//
//   - Serve, over a pipe, is a ProcessPool's worker process (and the
//     child processes of a cluster worker): one session, read on the
//     goroutine that then runs the call, with answers encoded on the
//     pipe's own gob streams in the order they are written.
//   - package cluster's Serve, over NATS, is a cluster worker: one session
//     per link of each driver, a newer link closing the older one's, with
//     calls run by a Runner — InProcess, or StartChildren's child
//     processes, so that a task that crashes fails alone and one that
//     ignores its deadline is killed.
//
// What a session owes its executor (Started, Revoked, answers, and the
// transport's own messages such as a cluster's heartbeats) is written in
// the order the worker's state changed, by one goroutine at a time.
//
// # At most once
//
// A call runs at most once unless its executor allows retries, whatever
// becomes of the worker: stopped (SIGSTOP, a hung host), cut off and
// reconnected, or killed, and whatever becomes of its messages. The rule
// is the protocol's, not a timer's:
//
//  1. A worker starts a call only once its executor granted it. A call
//     sent to a free slot is granted as it is sent; one sent ahead to a
//     busy worker waits, held, for a grant, which the executor sends as
//     the worker's running calls end (at most one per slot ahead of
//     them: sched.Config.GrantPerSlot). A session without grants
//     (SessionConfig.Grants false: a pipe) takes every call as granted.
//  2. An executor takes a call back from a worker only when the worker
//     says it gave it back (Revoked), which it says only of a call it did
//     not start, and after which it never starts it.
//  3. When an executor loses a worker without such a word (its messages
//     stop coming), it reruns only the calls it never granted; the
//     granted ones, started or not, fail with ErrWorkerDied (or run again
//     under Retries, which allow it).
//
// A call that runs elsewhere after a loss is, by 3, one that was never
// granted, so by 1 the lost worker never started it and never will: a
// grant comes only on the link it was sent on, which the executor
// abandoned when it declared the loss (grants travel in order with the
// calls, on one subject). How long the worker was stopped, what its clocks
// say, and whether its Started messages arrived, do not enter into it.
// The price is that a granted call the lost worker had not started yet
// fails (or is retried) instead of running elsewhere: at most one per
// slot. Over a pipe, a loss is a process that exited, and its executor
// reads everything it wrote before declaring it gone; a call sent ahead
// says Started before it runs, so every call it did not report started
// surely never did, and runs elsewhere.
package worker

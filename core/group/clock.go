package group

import "time"

// clock is the coordinator's source of time and timers. Production uses the
// wall clock; tests use a manual clock so that session and rebalance
// timeouts fire exactly when a test says so.
type clock interface {
	Now() time.Time
	// AfterFunc runs f in its own goroutine (or, for a manual clock, in
	// the goroutine that advances time) once d has passed.
	AfterFunc(d time.Duration, f func()) timer
}

type timer interface {
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, f func()) timer { return time.AfterFunc(d, f) }

package main

import "golang.org/x/sys/unix"

// monotonicNs reads CLOCK_MONOTONIC in nanoseconds: the clock Python's
// time.monotonic_ns() reads, so commit times compare across processes. Go's own
// monotonic reading is relative to process start and cannot be used for that.
func monotonicNs() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return -1
	}
	return ts.Nano()
}

package main

// #include <time.h>
import "C"

// monotonicNs reads CLOCK_MONOTONIC in nanoseconds, the clock Python's time.monotonic_ns()
// reads, so commit times compare across processes (Go's own monotonic reading is relative
// to process start).
func monotonicNs() int64 {
	var ts C.struct_timespec
	C.clock_gettime(C.CLOCK_MONOTONIC, &ts)
	return int64(ts.tv_sec)*1_000_000_000 + int64(ts.tv_nsec)
}

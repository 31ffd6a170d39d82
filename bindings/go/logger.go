package fabgossip

/*
#include <stdint.h>
#include "fabgossip.h"

fg_status fg_go_set_logger(uintptr_t handle, int32_t max_level);
*/
import "C"

import (
	"runtime/cgo"
	"sync/atomic"
	"unsafe"
)

// Log levels for SetLogger (FG_LOG_*).
const (
	LogOff   = C.FG_LOG_OFF
	LogError = C.FG_LOG_ERROR
	LogWarn  = C.FG_LOG_WARN
	LogInfo  = C.FG_LOG_INFO
	LogDebug = C.FG_LOG_DEBUG
	LogTrace = C.FG_LOG_TRACE
)

// LogFunc receives one library log line. It runs on library threads, concurrently, must
// not block for long, and gets StatusReentrant from any package function it calls.
type LogFunc func(level int, target, msg string)

// logHandle is the handle registered with the library (0: none). No mutex guards the
// library call: a logger calling SetLogger would deadlock on it while the library waits
// for that logger to return.
var logHandle atomic.Uintptr

func loggerOf(ud unsafe.Pointer) (fn LogFunc) {
	defer func() {
		// A handle already deleted by a racing SetLogger: drop the line.
		if recover() != nil {
			fn = nil
		}
	}()
	fn, _ = cgo.Handle(uintptr(ud)).Value().(LogFunc)
	return fn
}

// SetLogger sends the library's log lines at maxLevel and more severe (LogError..LogTrace)
// to fn, replacing any previous logger; fn nil or maxLevel LogOff turns logging off. The
// logger stays registered across Shutdown and Init. A panic in fn is recovered and
// counted by CallbackPanics.
func SetLogger(fn func(level int, target, msg string), maxLevel int) error {
	var h cgo.Handle
	if fn != nil && maxLevel != LogOff {
		h = cgo.NewHandle(LogFunc(fn))
	} else {
		maxLevel = LogOff
	}
	if err := statusErr(C.fg_go_set_logger(C.uintptr_t(h), C.int32_t(maxLevel)), ""); err != nil {
		if h != 0 {
			h.Delete()
		}
		return err
	}
	// The library guarantees the previous logger is no longer running.
	if old := logHandle.Swap(uintptr(h)); old != 0 {
		cgo.Handle(old).Delete()
	}
	return nil
}

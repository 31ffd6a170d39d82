package fabgossip

/*
#include <stdint.h>
#include <stdlib.h>
#include "fabgossip.h"

fg_status fg_go_set_leadership(uintptr_t handle);
*/
import "C"

import (
	"runtime/cgo"
	"sync/atomic"
	"unsafe"
)

// LeadershipFunc receives one leadership change: this peer now leads channel (leader true)
// or no longer does. Changes arrive in order, one at a time, on the library's leadership
// thread; gossip does not wait for it (later changes do), and package functions called
// inside it return StatusReentrant.
type LeadershipFunc func(channel string, leader bool)

// leadershipHandle is the handle registered with the library (0: none).
var leadershipHandle atomic.Uintptr

func leadershipOf(ud unsafe.Pointer) (fn LeadershipFunc) {
	defer func() {
		// A handle already deleted by a racing SetLeadershipCallback: drop the change.
		if recover() != nil {
			fn = nil
		}
	}()
	fn, _ = cgo.Handle(uintptr(ud)).Value().(LeadershipFunc)
	return fn
}

// SetLeadershipCallback calls fn at every later leadership change, replacing any previous
// callback; nil removes it. It stays registered across Shutdown and Init; changes before
// the call are not replayed (read them with IsLeader). A panic in fn is recovered and
// counted by CallbackPanics.
func SetLeadershipCallback(fn func(channel string, leader bool)) error {
	var h cgo.Handle
	if fn != nil {
		h = cgo.NewHandle(LeadershipFunc(fn))
	}
	if err := statusErr(C.fg_go_set_leadership(C.uintptr_t(h)), ""); err != nil {
		if h != 0 {
			h.Delete()
		}
		return err
	}
	// The library guarantees the previous callback is no longer running.
	if old := leadershipHandle.Swap(uintptr(h)); old != 0 {
		cgo.Handle(old).Delete()
	}
	return nil
}

// IsLeader reports whether this peer leads channel: elected with useLeaderElection, always
// with orgLeader, never with both off. It never blocks. A channel not joined (or left) is
// an *Error with StatusNotFound.
func IsLeader(channel string) (bool, error) {
	if channel == "" {
		return false, &Error{Status: StatusInvalidArg, Detail: "empty channel"}
	}
	ch := C.CString(channel)
	defer C.free(unsafe.Pointer(ch))
	var out C.int32_t
	if err := statusErr(C.fg_is_leader(ch, C.size_t(len(channel)), &out), ""); err != nil {
		return false, err
	}
	return out != 0, nil
}

// IsLeader is the package-level IsLeader.
func (s *Service) IsLeader(channel string) (bool, error) { return IsLeader(channel) }

// YieldLeadership gives up leadership of channel (fg_yield_leadership, Fabric's Yield):
// this peer steps down and stays out of the election for a while, so another peer of the
// org takes over; the leadership callback reports the loss. Nothing happens when this peer
// does not lead. A channel not joined, or without leader election (a static orgLeader), is
// an *Error with StatusNotFound and a Detail saying which.
func YieldLeadership(channel string) error {
	ch, chLen := cText(channel)
	defer C.free(unsafe.Pointer(ch))
	return detailCall(func(e *C.fg_bytes) C.fg_status { return C.fg_yield_leadership(ch, chLen, e) })
}

// YieldLeadership is the package-level YieldLeadership.
func (s *Service) YieldLeadership(channel string) error { return YieldLeadership(channel) }

package fabgossip

/*
#include "fabgossip.h"
*/
import "C"

import "fmt"

// Status is an fg_status: the result of a library call or of a host callback.
type Status uint32

// The library's stable status numbers (include/fabgossip.h).
const (
	StatusOK                 Status = C.FG_STATUS_OK
	StatusInvalidArg         Status = C.FG_STATUS_INVALID_ARG
	StatusNotInitialized     Status = C.FG_STATUS_NOT_INITIALIZED
	StatusAlreadyInitialized Status = C.FG_STATUS_ALREADY_INITIALIZED
	StatusNotFound           Status = C.FG_STATUS_NOT_FOUND
	StatusTimeout            Status = C.FG_STATUS_TIMEOUT
	StatusShutdown           Status = C.FG_STATUS_SHUTDOWN
	StatusReentrant          Status = C.FG_STATUS_REENTRANT
	StatusPanic              Status = C.FG_STATUS_PANIC
	StatusConfig             Status = C.FG_STATUS_CONFIG
	StatusIO                 Status = C.FG_STATUS_IO
	StatusCrypto             Status = C.FG_STATUS_CRYPTO
	StatusInternal           Status = C.FG_STATUS_INTERNAL
	StatusBufferTooSmall     Status = C.FG_STATUS_BUFFER_TOO_SMALL
	StatusCallbackFailed     Status = C.FG_STATUS_CALLBACK_FAILED
	StatusBusy               Status = C.FG_STATUS_BUSY
	StatusIncomplete         Status = C.FG_STATUS_INCOMPLETE
)

// String is the library's name for the status, e.g. "FG_STATUS_CONFIG" (fg_status_str).
func (s Status) String() string {
	return C.GoString(C.fg_status_str(C.fg_status(s)))
}

// Error is a failed library call: its status and, when the library gave one, the detail
// (for a config error, the offending key).
type Error struct {
	Status Status
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "fabgossip: " + e.Status.String()
	}
	return fmt.Sprintf("fabgossip: %s: %s", e.Status, e.Detail)
}

// Is makes errors.Is(err, &Error{Status: s}) match any error with status s.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status && (t.Detail == "" || t.Detail == e.Detail)
}

// statusErr turns a status into nil (OK) or an *Error.
func statusErr(st C.fg_status, detail string) error {
	if st == C.FG_STATUS_OK {
		return nil
	}
	return &Error{Status: Status(st), Detail: detail}
}

package fabgossip

/*
#include "fabgossip.h"
*/
import "C"

import (
	"errors"
	"runtime/cgo"
	"sync/atomic"
)

// Ledger is a ledger kept by the host: once installed with SetLedger, every channel joined
// afterwards commits its blocks through it instead of the library's embedded file ledger.
//
// Contract (the library's fg_ledger_callbacks rules):
//   - Commit runs on a library thread, one call at a time per channel and in block order:
//     seq is always the channel's current Height. It may block (disk I/O). Height and
//     GetBlock may run at the same time on other threads: methods must be thread-safe.
//   - Arguments are copies the method may keep.
//   - Calling any package function from inside a method fails with StatusReentrant.
//   - A returned error (or a panic, recovered) is an error status: the library logs it and
//     offers the same block again later; it never skips it. An *Error carries its own
//     status; any other error becomes StatusCallbackFailed.
//   - No method runs after Shutdown (or the SetLedger that replaces it) returns.
type Ledger interface {
	// Height is the number of blocks held for channel (the next block's number).
	Height(channel string) (uint64, error)
	// Commit appends block seq (a serialized common.Block that passed VerifyBlock) of
	// channel with its private data.
	Commit(channel string, seq uint64, block []byte, privateData [][]byte) error
	// GetBlock returns committed block seq of channel, or ErrBlockNotFound.
	GetBlock(channel string, seq uint64) ([]byte, error)
}

// ErrBlockNotFound is returned by Ledger.GetBlock for a block the ledger does not hold.
var ErrBlockNotFound = errors.New("block not found")

// ledgerTable is what the library's user_data handle points at for one SetLedger.
type ledgerTable struct {
	ledger Ledger
}

// liveLedgers counts ledger tables handed to the library and not yet released.
var liveLedgers atomic.Int64

// LiveLedgers is the number of Ledgers the library holds (0 or 1 while running; 0 after
// Shutdown): a test sees that every table was released.
func LiveLedgers() int64 { return liveLedgers.Load() }

// SetLedger makes l the ledger of every channel joined from now on; nil goes back to the
// embedded file ledger. Call it after Init, before joining channels (a joined channel makes
// it fail with StatusBusy; leaving every channel allows it again). The Ledger given before
// is released (no method of it runs after SetLedger returns).
func SetLedger(l Ledger) error {
	if l == nil {
		return statusErr(C.fg_set_ledger_callbacks(nil), "")
	}
	liveLedgers.Add(1)
	h := cgo.NewHandle(&ledgerTable{ledger: l})
	table := goLedgerTable(h)
	// From here the library owns h: its release callback deletes it, whether or not the
	// call succeeds.
	return statusErr(C.fg_set_ledger_callbacks(&table), "")
}

// SetLedger is the package-level SetLedger.
func (s *Service) SetLedger(l Ledger) error { return SetLedger(l) }

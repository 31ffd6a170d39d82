package fabgossip

// The C entry points the library calls: one //export function per fg_callbacks slot and
// one for logging. Each one finds its Go object through the cgo.Handle passed as
// user_data, copies its inputs into Go memory, recovers from panics (a Go panic must not
// unwind through Rust frames) and answers with an fg_status.

/*
#include <stdint.h>
#include "fabgossip.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"runtime/cgo"
	"unsafe"
)

// table resolves user_data; a stale or foreign value yields nil rather than a crash.
func table(ud unsafe.Pointer) (t *hostTable) {
	defer func() {
		if recover() != nil {
			t = nil
		}
	}()
	t, _ = cgo.Handle(uintptr(ud)).Value().(*hostTable)
	return t
}

// guard turns a panic in a callback into StatusCallbackFailed.
func guard(name string, st *C.fg_status) {
	if r := recover(); r != nil {
		callbackPanics.Add(1)
		lastCallbackPanic.Store(fmt.Sprintf("%s: %v", name, r))
		*st = C.FG_STATUS_CALLBACK_FAILED
	}
}

// in copies a borrowed input; ok is false when it cannot be represented.
func in(p *C.uint8_t, n C.size_t) ([]byte, bool) {
	if n == 0 {
		return []byte{}, true
	}
	if p == nil || n > math.MaxInt32 {
		return nil, false
	}
	return C.GoBytes(unsafe.Pointer(p), C.int(n)), true
}

func inText(p *C.uint8_t, n C.size_t) (string, bool) {
	b, ok := in(p, n)
	return string(b), ok
}

// out writes data to the library's (out, cap, out_len) buffer: the length always, the
// bytes only when they fit, else BUFFER_TOO_SMALL so the library retries with that size.
func out(data []byte, buf *C.uint8_t, capacity C.size_t, outLen *C.size_t) C.fg_status {
	if outLen == nil {
		return C.FG_STATUS_INVALID_ARG
	}
	*outLen = C.size_t(len(data))
	if C.size_t(len(data)) > capacity {
		return C.FG_STATUS_BUFFER_TOO_SMALL
	}
	if len(data) > 0 {
		if buf == nil {
			return C.FG_STATUS_INVALID_ARG
		}
		copy(unsafe.Slice((*byte)(unsafe.Pointer(buf)), len(data)), data)
	}
	return C.FG_STATUS_OK
}

// checkStatus maps the error of a yes/no method: nil → OK, *Error → its status, else CRYPTO.
func checkStatus(err error) C.fg_status {
	return errStatus(err, C.FG_STATUS_CRYPTO)
}

func errStatus(err error, otherwise C.fg_status) C.fg_status {
	if err == nil {
		return C.FG_STATUS_OK
	}
	var fe *Error
	if errors.As(err, &fe) && fe.Status != StatusOK {
		return C.fg_status(fe.Status)
	}
	return otherwise
}

//export fgGoRelease
func fgGoRelease(ud unsafe.Pointer) {
	defer func() {
		if r := recover(); r != nil {
			callbackPanics.Add(1)
			lastCallbackPanic.Store(fmt.Sprintf("release: %v", r))
		}
	}()
	h := cgo.Handle(uintptr(ud))
	if _, ok := h.Value().(*hostTable); ok {
		liveTables.Add(-1)
	}
	h.Delete()
}

//export fgGoSign
func fgGoSign(ud unsafe.Pointer, msg *C.uint8_t, msgLen C.size_t, buf *C.uint8_t, capacity C.size_t, outLen *C.size_t) (st C.fg_status) {
	defer guard("Sign", &st)
	t := table(ud)
	m, ok := in(msg, msgLen)
	if t == nil || !ok {
		return C.FG_STATUS_INVALID_ARG
	}
	sig, err := t.mcs.Sign(m)
	if err != nil {
		return errStatus(err, C.FG_STATUS_CALLBACK_FAILED)
	}
	return out(sig, buf, capacity, outLen)
}

//export fgGoVerify
func fgGoVerify(ud unsafe.Pointer, ident *C.uint8_t, identLen C.size_t, sig *C.uint8_t, sigLen C.size_t, msg *C.uint8_t, msgLen C.size_t) (st C.fg_status) {
	defer guard("Verify", &st)
	t := table(ud)
	id, ok1 := in(ident, identLen)
	s, ok2 := in(sig, sigLen)
	m, ok3 := in(msg, msgLen)
	if t == nil || !ok1 || !ok2 || !ok3 {
		return C.FG_STATUS_INVALID_ARG
	}
	return checkStatus(t.mcs.Verify(id, s, m))
}

//export fgGoVerifyByChannel
func fgGoVerifyByChannel(ud unsafe.Pointer, channel *C.uint8_t, channelLen C.size_t, ident *C.uint8_t, identLen C.size_t, sig *C.uint8_t, sigLen C.size_t, msg *C.uint8_t, msgLen C.size_t) (st C.fg_status) {
	defer guard("VerifyByChannel", &st)
	t := table(ud)
	ch, ok0 := inText(channel, channelLen)
	id, ok1 := in(ident, identLen)
	s, ok2 := in(sig, sigLen)
	m, ok3 := in(msg, msgLen)
	if t == nil || !ok0 || !ok1 || !ok2 || !ok3 {
		return C.FG_STATUS_INVALID_ARG
	}
	return checkStatus(t.mcs.VerifyByChannel(ch, id, s, m))
}

//export fgGoVerifyBlock
func fgGoVerifyBlock(ud unsafe.Pointer, channel *C.uint8_t, channelLen C.size_t, seq C.uint64_t, block *C.uint8_t, blockLen C.size_t) (st C.fg_status) {
	defer guard("VerifyBlock", &st)
	t := table(ud)
	ch, ok0 := inText(channel, channelLen)
	b, ok1 := in(block, blockLen)
	if t == nil || !ok0 || !ok1 {
		return C.FG_STATUS_INVALID_ARG
	}
	return checkStatus(t.mcs.VerifyBlock(ch, uint64(seq), b))
}

//export fgGoValidateIdentity
func fgGoValidateIdentity(ud unsafe.Pointer, ident *C.uint8_t, identLen C.size_t) (st C.fg_status) {
	defer guard("ValidateIdentity", &st)
	t := table(ud)
	id, ok := in(ident, identLen)
	if t == nil || !ok {
		return C.FG_STATUS_INVALID_ARG
	}
	return checkStatus(t.mcs.ValidateIdentity(id))
}

//export fgGoPKIidOf
func fgGoPKIidOf(ud unsafe.Pointer, ident *C.uint8_t, identLen C.size_t, buf *C.uint8_t, capacity C.size_t, outLen *C.size_t) (st C.fg_status) {
	defer guard("PKIidOf", &st)
	t := table(ud)
	id, ok := in(ident, identLen)
	if t == nil || t.pki == nil || !ok {
		return C.FG_STATUS_INVALID_ARG
	}
	pki, err := t.pki.PKIidOf(id)
	if err != nil {
		return errStatus(err, C.FG_STATUS_CRYPTO)
	}
	if len(pki) == 0 {
		return C.FG_STATUS_CALLBACK_FAILED
	}
	return out(pki, buf, capacity, outLen)
}

//export fgGoOrgOf
func fgGoOrgOf(ud unsafe.Pointer, ident *C.uint8_t, identLen C.size_t, buf *C.uint8_t, capacity C.size_t, outLen *C.size_t) (st C.fg_status) {
	defer guard("OrgOf", &st)
	t := table(ud)
	id, ok := in(ident, identLen)
	if t == nil || !ok {
		return C.FG_STATUS_INVALID_ARG
	}
	org, err := t.mcs.OrgOf(id)
	if err != nil {
		return errStatus(err, C.FG_STATUS_CRYPTO)
	}
	return out([]byte(org), buf, capacity, outLen)
}

//export fgGoExpiration
func fgGoExpiration(ud unsafe.Pointer, ident *C.uint8_t, identLen C.size_t, outUnix *C.int64_t) (st C.fg_status) {
	defer guard("Expiration", &st)
	t := table(ud)
	id, ok := in(ident, identLen)
	if t == nil || !ok || outUnix == nil {
		return C.FG_STATUS_INVALID_ARG
	}
	at, err := t.mcs.Expiration(id)
	if errors.Is(err, ErrNeverExpires) || (err == nil && at.IsZero()) {
		return C.FG_STATUS_NOT_FOUND
	}
	if err != nil {
		return errStatus(err, C.FG_STATUS_CRYPTO)
	}
	*outUnix = C.int64_t(at.Unix())
	return C.FG_STATUS_OK
}

//export fgGoLog
func fgGoLog(ud unsafe.Pointer, level C.int32_t, target *C.char, targetLen C.size_t, msg *C.char, msgLen C.size_t) {
	defer func() {
		if r := recover(); r != nil {
			callbackPanics.Add(1)
			lastCallbackPanic.Store(fmt.Sprintf("logger: %v", r))
		}
	}()
	sink := loggerOf(ud)
	if sink == nil {
		return
	}
	tg, _ := inText((*C.uint8_t)(unsafe.Pointer(target)), targetLen)
	m, _ := inText((*C.uint8_t)(unsafe.Pointer(msg)), msgLen)
	sink(int(level), tg, m)
}

// ledgerOf resolves a ledger table's user_data; a stale or foreign value yields nil.
func ledgerOf(ud unsafe.Pointer) (t *ledgerTable) {
	defer func() {
		if recover() != nil {
			t = nil
		}
	}()
	t, _ = cgo.Handle(uintptr(ud)).Value().(*ledgerTable)
	return t
}

//export fgGoLedgerRelease
func fgGoLedgerRelease(ud unsafe.Pointer) {
	defer func() {
		if r := recover(); r != nil {
			callbackPanics.Add(1)
			lastCallbackPanic.Store(fmt.Sprintf("ledger release: %v", r))
		}
	}()
	h := cgo.Handle(uintptr(ud))
	if _, ok := h.Value().(*ledgerTable); ok {
		liveLedgers.Add(-1)
	}
	h.Delete()
}

//export fgGoLedgerHeight
func fgGoLedgerHeight(ud unsafe.Pointer, channel *C.uint8_t, channelLen C.size_t, outHeight *C.uint64_t) (st C.fg_status) {
	defer guard("Ledger.Height", &st)
	t := ledgerOf(ud)
	ch, ok := inText(channel, channelLen)
	if t == nil || !ok || outHeight == nil {
		return C.FG_STATUS_INVALID_ARG
	}
	h, err := t.ledger.Height(ch)
	if err != nil {
		return errStatus(err, C.FG_STATUS_CALLBACK_FAILED)
	}
	*outHeight = C.uint64_t(h)
	return C.FG_STATUS_OK
}

//export fgGoLedgerCommit
func fgGoLedgerCommit(ud unsafe.Pointer, channel *C.uint8_t, channelLen C.size_t, seq C.uint64_t, block *C.uint8_t, blockLen C.size_t, pvt *C.fg_slice, pvtCount C.size_t) (st C.fg_status) {
	defer guard("Ledger.Commit", &st)
	t := ledgerOf(ud)
	ch, ok0 := inText(channel, channelLen)
	b, ok1 := in(block, blockLen)
	if t == nil || !ok0 || !ok1 || (pvt == nil && pvtCount > 0) || pvtCount > math.MaxInt32 {
		return C.FG_STATUS_INVALID_ARG
	}
	var private [][]byte
	if pvtCount > 0 {
		for _, s := range unsafe.Slice(pvt, int(pvtCount)) {
			p, ok := in(s.ptr, s.len)
			if !ok {
				return C.FG_STATUS_INVALID_ARG
			}
			private = append(private, p)
		}
	}
	return errStatus(t.ledger.Commit(ch, uint64(seq), b, private), C.FG_STATUS_CALLBACK_FAILED)
}

//export fgGoLedgerGetBlock
func fgGoLedgerGetBlock(ud unsafe.Pointer, channel *C.uint8_t, channelLen C.size_t, seq C.uint64_t, buf *C.uint8_t, capacity C.size_t, outLen *C.size_t) (st C.fg_status) {
	defer guard("Ledger.GetBlock", &st)
	t := ledgerOf(ud)
	ch, ok := inText(channel, channelLen)
	if t == nil || !ok {
		return C.FG_STATUS_INVALID_ARG
	}
	b, err := t.ledger.GetBlock(ch, uint64(seq))
	if errors.Is(err, ErrBlockNotFound) {
		return C.FG_STATUS_NOT_FOUND
	}
	if err != nil {
		return errStatus(err, C.FG_STATUS_CALLBACK_FAILED)
	}
	return out(b, buf, capacity, outLen)
}

//export fgGoLeadership
func fgGoLeadership(ud unsafe.Pointer, channel *C.char, channelLen C.size_t, isLeader C.int32_t) {
	defer func() {
		if r := recover(); r != nil {
			callbackPanics.Add(1)
			lastCallbackPanic.Store(fmt.Sprintf("leadership: %v", r))
		}
	}()
	fn := leadershipOf(ud)
	if fn == nil {
		return
	}
	ch, _ := inText((*C.uint8_t)(unsafe.Pointer(channel)), channelLen)
	fn(ch, isLeader != 0)
}

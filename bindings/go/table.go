package fabgossip

/*
#include <stdint.h>
#include "fabgossip.h"

fg_callbacks fg_go_callbacks(uintptr_t handle, int with_pki_id);
fg_ledger_callbacks fg_go_ledger_callbacks(uintptr_t handle);
*/
import "C"

import "runtime/cgo"

// goCallbackTable is the fg_callbacks table whose user_data is h; the self identity is
// filled in by the caller.
func goCallbackTable(h cgo.Handle, mcs MessageCryptoService) C.fg_callbacks {
	withPKI := C.int(0)
	if _, ok := mcs.(PKIidProvider); ok {
		withPKI = 1
	}
	return C.fg_go_callbacks(C.uintptr_t(h), withPKI)
}

// goLedgerTable is the fg_ledger_callbacks table whose user_data is h.
func goLedgerTable(h cgo.Handle) C.fg_ledger_callbacks {
	return C.fg_go_ledger_callbacks(C.uintptr_t(h))
}

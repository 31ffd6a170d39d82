// Builds the fg_callbacks table from the Go trampolines (trampolines.go). Kept in C because
// a Go file with //export functions may only declare, not define, C functions, and because
// the casts below are needed: cgo exports pointer parameters without `const`.
#include <stdint.h>

#include "_cgo_export.h"
#include "fabgossip.h"

fg_callbacks fg_go_callbacks(uintptr_t handle, int with_pki_id) {
  fg_callbacks t = {0};
  t.user_data = (void *)handle;
  t.release = (fg_release_fn)fgGoRelease;
  t.sign = (fg_sign_fn)fgGoSign;
  t.verify = (fg_verify_fn)fgGoVerify;
  t.verify_by_channel = (fg_verify_by_channel_fn)fgGoVerifyByChannel;
  t.verify_block = (fg_verify_block_fn)fgGoVerifyBlock;
  t.validate_identity = (fg_validate_identity_fn)fgGoValidateIdentity;
  t.org_of_identity = (fg_identity_query_fn)fgGoOrgOf;
  t.expiration = (fg_expiration_fn)fgGoExpiration;
  if (with_pki_id) t.pki_id_of = (fg_identity_query_fn)fgGoPKIidOf;
  return t;
}

fg_ledger_callbacks fg_go_ledger_callbacks(uintptr_t handle) {
  fg_ledger_callbacks t = {0};
  t.user_data = (void *)handle;
  t.release = (fg_release_fn)fgGoLedgerRelease;
  t.height = (fg_ledger_height_fn)fgGoLedgerHeight;
  t.commit = (fg_ledger_commit_fn)fgGoLedgerCommit;
  t.get_block = (fg_ledger_get_block_fn)fgGoLedgerGetBlock;
  return t;
}

fg_status fg_go_set_logger(uintptr_t handle, int32_t max_level) {
  return fg_set_log_callback((fg_log_fn)fgGoLog, (void *)handle, max_level);
}

fg_status fg_go_set_leadership(uintptr_t handle) {
  return fg_set_leadership_callback(handle ? (fg_leadership_fn)fgGoLeadership : NULL,
                                    (void *)handle);
}

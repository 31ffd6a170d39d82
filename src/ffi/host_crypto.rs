//! Crypto services implemented by the host through the `fg_callbacks` table: Fabric's
//! `MessageCryptoService` and `SecurityAdvisor` over C function pointers.
//!
//! Every call passes the table's gate (`ffi::host_call::HostGate`): once
//! [`HostCrypto::release`] returns no callback is running and none will start.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;
use sha2::{Digest, Sha256};

use crate::crypto::{CryptoError, MessageCryptoService, SecurityAdvisor};
use crate::ffi::callbacks::fg_callbacks;
use crate::ffi::counters;
use crate::ffi::host_call::{fill_buffer, Filled, HostGate};
use crate::ffi::status::{fg_status, status_label, FG_STATUS_NOT_FOUND, FG_STATUS_OK};
use crate::proto::msp::SerializedIdentity;
use crate::types::{OrgId, PkiId};

/// Largest output a host may ask for after `FG_STATUS_BUFFER_TOO_SMALL` (an identity with
/// its certificate chain fits many times over).
const MAX_HOST_OUTPUT: usize = 1 << 20;
/// First buffer sizes: an Ed25519/ECDSA signature, a SHA-256 PKI-ID, an MSP ID, an identity.
const SIGNATURE_CAP: usize = 128;
const PKI_ID_CAP: usize = 64;
const ORG_CAP: usize = 128;
const IDENTITY_CAP: usize = 4096;

/// The host's callback table, shared by the gossip tasks.
pub struct HostCrypto {
    table: fg_callbacks,
    gate: HostGate,
}

impl HostCrypto {
    /// Takes ownership of the table: `release(user_data)` runs exactly once, at
    /// [`HostCrypto::release`] or when this value is dropped.
    pub fn new(table: fg_callbacks) -> HostCrypto {
        HostCrypto {
            table,
            gate: HostGate::new(),
        }
    }

    /// Checks that every required callback is present; the error names the missing one.
    pub fn check_required(&self) -> Result<(), String> {
        let t = &self.table;
        let missing = [
            ("sign", t.sign.is_none()),
            ("verify", t.verify.is_none()),
            ("verify_by_channel", t.verify_by_channel.is_none()),
            ("verify_block", t.verify_block.is_none()),
            ("validate_identity", t.validate_identity.is_none()),
            ("org_of_identity", t.org_of_identity.is_none()),
            (
                "self_identity",
                t.self_identity.is_null() && t.self_identity_fn.is_none(),
            ),
        ];
        match missing.iter().find(|(_, m)| *m) {
            Some((name, _)) => Err(format!("fg_callbacks.{name} is NULL")),
            None => Ok(()),
        }
    }

    /// This peer's serialized identity: the bytes in the table, else `self_identity_fn`.
    pub fn self_identity(&self) -> Result<Vec<u8>, CryptoError> {
        let t = &self.table;
        if !t.self_identity.is_null() {
            if t.self_identity_len == 0 {
                return Err(CryptoError::MalformedIdentity(
                    "self_identity_len is 0".into(),
                ));
            }
            // SAFETY: the host promises `self_identity_len` readable bytes during fg_init.
            return Ok(
                unsafe { std::slice::from_raw_parts(t.self_identity, t.self_identity_len) }
                    .to_vec(),
            );
        }
        let f = t
            .self_identity_fn
            .ok_or_else(|| host_err("self_identity", "missing"))?;
        // SAFETY: `f` is the host's callback for exactly these arguments (the `fg_callbacks`
        // contract), called with its own `user_data`; the inputs are slices that outlive the call
        // and `(out, cap, len)` is the writable buffer `call_out` lends for it.
        let id = self.call_out("self_identity_fn", IDENTITY_CAP, |out, cap, len| unsafe {
            f(t.user_data, out, cap, len)
        })?;
        if id.is_empty() {
            return Err(CryptoError::MalformedIdentity(
                "host returned an empty identity".into(),
            ));
        }
        Ok(id)
    }

    /// Closes the table: waits for running callbacks, forbids new ones, then calls
    /// `release(user_data)` if that has not happened yet.
    pub fn release(&self) {
        self.gate.release(self.table.release, self.table.user_data);
    }

    /// Runs one host call while the table is open and the thread is marked "in callback".
    fn call<R>(&self, name: &str, f: impl FnOnce() -> R) -> Result<R, CryptoError> {
        self.gate
            .call(f)
            .ok_or_else(|| host_err(name, "host callbacks already released"))
    }

    /// Calls a host function that fills `(out, cap, out_len)`, retrying once with the size
    /// the host asks for on `FG_STATUS_BUFFER_TOO_SMALL`.
    fn call_out(
        &self,
        name: &str,
        first_cap: usize,
        f: impl Fn(*mut u8, usize, *mut usize) -> fg_status,
    ) -> Result<Vec<u8>, CryptoError> {
        let filled = fill_buffer(first_cap, MAX_HOST_OUTPUT, |out, cap, len| {
            self.call(name, || f(out, cap, len))
        })?;
        match filled {
            Filled::Bytes(b) => Ok(b),
            Filled::Overrun { len, cap } => Err(host_err(
                name,
                &format!("reported {len} bytes in a {cap}-byte buffer"),
            )),
            Filled::TooSmall { len, cap } => Err(host_err(
                name,
                &format!("asked for {len} bytes (had {cap}, limit {MAX_HOST_OUTPUT})"),
            )),
            Filled::Status(other) => Err(host_err(name, status_label(other))),
        }
    }

    /// Turns a status from a yes/no callback into a result.
    fn check(
        &self,
        name: &str,
        status: Result<fg_status, CryptoError>,
        refused: impl FnOnce(String) -> CryptoError,
    ) -> Result<(), CryptoError> {
        match status? {
            FG_STATUS_OK => Ok(()),
            other => Err(refused(format!("{name}: {}", status_label(other)))),
        }
    }
}

impl Drop for HostCrypto {
    fn drop(&mut self) {
        self.release();
    }
}

fn host_err(name: &str, what: &str) -> CryptoError {
    counters::bump(&counters::counters().host_callback_failures);
    CryptoError::Host(format!("{name}: {what}"))
}

/// PKI-ID of an `msp.SerializedIdentity`: SHA-256(mspid ‖ id_bytes), as the built-in
/// identities compute it.
pub fn default_pki_id(identity: &[u8]) -> Result<PkiId, CryptoError> {
    let sid = SerializedIdentity::decode(identity).map_err(|e| {
        CryptoError::MalformedIdentity(format!("not an msp.SerializedIdentity: {e}"))
    })?;
    let mut h = Sha256::new();
    h.update(sid.mspid.as_bytes());
    h.update(&sid.id_bytes);
    Ok(PkiId(h.finalize().to_vec()))
}

impl MessageCryptoService for HostCrypto {
    fn pki_id_of(&self, identity: &[u8]) -> Result<PkiId, CryptoError> {
        let t = &self.table;
        let Some(f) = t.pki_id_of else {
            return default_pki_id(identity);
        };
        // SAFETY: `f` is the host's callback for exactly these arguments (the `fg_callbacks`
        // contract), called with its own `user_data`; the inputs are slices that outlive the call
        // and `(out, cap, len)` is the writable buffer `call_out` lends for it.
        let id = self.call_out("pki_id_of", PKI_ID_CAP, |out, cap, len| unsafe {
            f(
                t.user_data,
                identity.as_ptr(),
                identity.len(),
                out,
                cap,
                len,
            )
        })?;
        if id.is_empty() {
            return Err(host_err("pki_id_of", "empty PKI-ID"));
        }
        Ok(PkiId(id))
    }

    fn verify_block(&self, channel: &str, seq: u64, block: &[u8]) -> Result<(), CryptoError> {
        let t = &self.table;
        let f = t
            .verify_block
            .ok_or_else(|| host_err("verify_block", "NULL"))?;
        // SAFETY: `f` is the host's callback for exactly these arguments (the `fg_callbacks`
        // contract), called with its own `user_data`; the inputs are slices that outlive the call.
        let st = self.call("verify_block", || unsafe {
            f(
                t.user_data,
                channel.as_ptr(),
                channel.len(),
                seq,
                block.as_ptr(),
                block.len(),
            )
        });
        self.check("verify_block", st, CryptoError::InvalidBlock)
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let t = &self.table;
        let f = t.sign.ok_or_else(|| host_err("sign", "NULL"))?;
        // SAFETY: `f` is the host's callback for exactly these arguments (the `fg_callbacks`
        // contract), called with its own `user_data`; the inputs are slices that outlive the call
        // and `(out, cap, len)` is the writable buffer `call_out` lends for it.
        let sig = self.call_out("sign", SIGNATURE_CAP, |out, cap, len| unsafe {
            f(t.user_data, msg.as_ptr(), msg.len(), out, cap, len)
        })?;
        if sig.is_empty() {
            return Err(host_err("sign", "empty signature"));
        }
        Ok(sig)
    }

    fn verify(&self, identity: &[u8], signature: &[u8], msg: &[u8]) -> Result<(), CryptoError> {
        let t = &self.table;
        let f = t.verify.ok_or_else(|| host_err("verify", "NULL"))?;
        // SAFETY: `f` is the host's callback for exactly these arguments (the `fg_callbacks`
        // contract), called with its own `user_data`; the inputs are slices that outlive the call.
        let st = self.call("verify", || unsafe {
            f(
                t.user_data,
                identity.as_ptr(),
                identity.len(),
                signature.as_ptr(),
                signature.len(),
                msg.as_ptr(),
                msg.len(),
            )
        });
        self.check("verify", st, |_| CryptoError::BadSignature)
    }

    fn verify_by_channel(
        &self,
        channel: &str,
        identity: &[u8],
        signature: &[u8],
        msg: &[u8],
    ) -> Result<(), CryptoError> {
        let t = &self.table;
        let f = t
            .verify_by_channel
            .ok_or_else(|| host_err("verify_by_channel", "NULL"))?;
        // SAFETY: `f` is the host's callback for exactly these arguments (the `fg_callbacks`
        // contract), called with its own `user_data`; the inputs are slices that outlive the call.
        let st = self.call("verify_by_channel", || unsafe {
            f(
                t.user_data,
                channel.as_ptr(),
                channel.len(),
                identity.as_ptr(),
                identity.len(),
                signature.as_ptr(),
                signature.len(),
                msg.as_ptr(),
                msg.len(),
            )
        });
        self.check("verify_by_channel", st, |_| {
            CryptoError::NotInChannel(channel.to_string())
        })
    }

    fn validate_identity(&self, identity: &[u8]) -> Result<(), CryptoError> {
        let t = &self.table;
        let f = t
            .validate_identity
            .ok_or_else(|| host_err("validate_identity", "NULL"))?;
        // SAFETY: `f` is the host's callback for exactly these arguments (the `fg_callbacks`
        // contract), called with its own `user_data`; the inputs are slices that outlive the call.
        let st = self.call("validate_identity", || unsafe {
            f(t.user_data, identity.as_ptr(), identity.len())
        });
        self.check("validate_identity", st, CryptoError::UntrustedIdentity)
    }

    fn expiration(&self, identity: &[u8]) -> Result<Option<SystemTime>, CryptoError> {
        let t = &self.table;
        let Some(f) = t.expiration else {
            return Ok(None);
        };
        let mut secs = 0i64;
        // SAFETY: `f` is the host's callback for exactly these arguments (the `fg_callbacks`
        // contract), called with its own `user_data`; the inputs are slices that outlive the call.
        let st = self.call("expiration", || unsafe {
            f(t.user_data, identity.as_ptr(), identity.len(), &mut secs)
        })?;
        match st {
            FG_STATUS_OK => {
                let at = if secs >= 0 {
                    UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))
                } else {
                    UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
                };
                at.map(Some)
                    .ok_or_else(|| host_err("expiration", "time out of range"))
            }
            FG_STATUS_NOT_FOUND => Ok(None),
            other => Err(host_err("expiration", status_label(other))),
        }
    }
}

impl SecurityAdvisor for HostCrypto {
    fn org_by_peer_identity(&self, identity: &[u8]) -> Option<OrgId> {
        let t = &self.table;
        let f = t.org_of_identity?;
        // SAFETY: `f` is the host's callback for exactly these arguments (the `fg_callbacks`
        // contract), called with its own `user_data`; the inputs are slices that outlive the call
        // and `(out, cap, len)` is the writable buffer `call_out` lends for it.
        let res = self
            .call_out("org_of_identity", ORG_CAP, |out, cap, len| unsafe {
                f(
                    t.user_data,
                    identity.as_ptr(),
                    identity.len(),
                    out,
                    cap,
                    len,
                )
            })
            .and_then(|org| {
                String::from_utf8(org)
                    .map_err(|_| host_err("org_of_identity", "MSP ID is not UTF-8"))
            });
        match res {
            Ok(org) if !org.is_empty() => Some(org),
            Ok(_) => {
                tracing::debug!(target: "fabgossip::crypto", "org_of_identity returned an empty MSP ID");
                None
            }
            Err(e) => {
                tracing::debug!(target: "fabgossip::crypto", "org_of_identity failed: {e}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::reentry::inside_callback;
    use crate::ffi::status::{FG_STATUS_BUFFER_TOO_SMALL, FG_STATUS_CALLBACK_FAILED};
    use std::ffi::c_void;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Per-test host state, reached through `user_data`.
    #[derive(Default)]
    struct Host {
        releases: AtomicUsize,
        sign_calls: AtomicUsize,
        saw_reentry_flag: AtomicBool,
    }

    unsafe fn host<'a>(ud: *mut c_void) -> &'a Host {
        // SAFETY: user_data is the test's Host, which outlives every call.
        unsafe { &*(ud as *const Host) }
    }

    unsafe extern "C" fn release(ud: *mut c_void) {
        // SAFETY: the library passes the table's user_data, the test's Host.
        unsafe {
            host(ud).releases.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Writes a 200-byte signature, so the first 128-byte buffer is too small.
    unsafe extern "C" fn sign(
        ud: *mut c_void,
        _m: *const u8,
        _ml: usize,
        out: *mut u8,
        cap: usize,
        len: *mut usize,
    ) -> fg_status {
        // SAFETY: the library passes the table's user_data (the test's Host), a writable `cap`-byte
        // buffer and a writable `len`.
        unsafe {
            let h = host(ud);
            h.sign_calls.fetch_add(1, Ordering::SeqCst);
            h.saw_reentry_flag
                .store(inside_callback(), Ordering::SeqCst);
            *len = 200;
            if cap < 200 {
                return FG_STATUS_BUFFER_TOO_SMALL;
            }
            std::ptr::write_bytes(out, 7, 200);
            FG_STATUS_OK
        }
    }

    /// Always claims to need more room than offered.
    unsafe extern "C" fn greedy_org(
        _ud: *mut c_void,
        _i: *const u8,
        _il: usize,
        _o: *mut u8,
        cap: usize,
        len: *mut usize,
    ) -> fg_status {
        // SAFETY: the library passes a writable `len`.
        unsafe {
            *len = cap + 1;
            FG_STATUS_BUFFER_TOO_SMALL
        }
    }

    unsafe extern "C" fn refuse(_ud: *mut c_void, _i: *const u8, _il: usize) -> fg_status {
        FG_STATUS_CALLBACK_FAILED
    }

    unsafe extern "C" fn never_expires(
        _ud: *mut c_void,
        _i: *const u8,
        _il: usize,
        _out: *mut i64,
    ) -> fg_status {
        FG_STATUS_NOT_FOUND
    }

    fn table(h: &Host) -> fg_callbacks {
        fg_callbacks {
            user_data: h as *const Host as *mut c_void,
            release: Some(release),
            self_identity: std::ptr::null(),
            self_identity_len: 0,
            self_identity_fn: None,
            sign: Some(sign),
            verify: None,
            verify_by_channel: None,
            verify_block: None,
            validate_identity: Some(refuse),
            pki_id_of: None,
            org_of_identity: Some(greedy_org),
            expiration: Some(never_expires),
        }
    }

    #[test]
    fn sign_retries_once_with_the_size_the_host_asks_for() {
        let h = Host::default();
        let c = HostCrypto::new(table(&h));
        let sig = c.sign(b"payload").unwrap();
        assert_eq!(sig, vec![7u8; 200]);
        assert_eq!(h.sign_calls.load(Ordering::SeqCst), 2);
        assert!(
            h.saw_reentry_flag.load(Ordering::SeqCst),
            "callbacks run inside a CallbackScope"
        );
        assert!(!inside_callback());
    }

    #[test]
    fn a_host_that_keeps_asking_for_more_is_an_error_not_a_loop() {
        let h = Host::default();
        let c = HostCrypto::new(table(&h));
        assert_eq!(c.org_by_peer_identity(b"id"), None);
    }

    #[test]
    fn refusals_map_to_errors_and_missing_callbacks_are_named() {
        let h = Host::default();
        let c = HostCrypto::new(table(&h));
        assert!(
            matches!(c.validate_identity(b"x"), Err(CryptoError::UntrustedIdentity(m)) if m.contains("FG_STATUS_CALLBACK_FAILED"))
        );
        assert_eq!(c.expiration(b"x").unwrap(), None);
        assert_eq!(
            c.check_required().unwrap_err(),
            "fg_callbacks.verify is NULL"
        );
    }

    #[test]
    fn release_runs_once_and_closes_the_table() {
        let h = Host::default();
        {
            let c = HostCrypto::new(table(&h));
            c.release();
            c.release();
            assert!(matches!(c.sign(b"m"), Err(CryptoError::Host(_))));
            assert_eq!(
                h.sign_calls.load(Ordering::SeqCst),
                0,
                "no callback after release"
            );
        } // drop must not release again
        assert_eq!(h.releases.load(Ordering::SeqCst), 1);
        {
            let _c = HostCrypto::new(table(&h));
        } // dropped without release(): released by Drop
        assert_eq!(h.releases.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn default_pki_id_is_sha256_of_mspid_and_key() {
        let sid = SerializedIdentity {
            mspid: "Org1MSP".into(),
            id_bytes: vec![1, 2, 3],
        };
        let id = default_pki_id(&sid.encode_to_vec()).unwrap();
        let mut h = Sha256::new();
        h.update(b"Org1MSP\x01\x02\x03");
        assert_eq!(id.0, h.finalize().to_vec());
        assert!(default_pki_id(&[0xff, 0xff]).is_err());
    }
}

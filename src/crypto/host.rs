//! Crypto services implemented by the host through the `fg_callbacks` table: Fabric's
//! `MessageCryptoService` and `SecurityAdvisor` over C function pointers.
//!
//! Every call holds a shared lock and checks that the table is still open; [`HostCrypto::release`]
//! takes the lock exclusively, so once it returns no callback is running and none will start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;
use sha2::{Digest, Sha256};

use crate::crypto::{CryptoError, MessageCryptoService, SecurityAdvisor};
use crate::ffi::callbacks::fg_callbacks;
use crate::ffi::reentry::CallbackScope;
use crate::ffi::status::{status_label, fg_status, FG_STATUS_BUFFER_TOO_SMALL, FG_STATUS_NOT_FOUND, FG_STATUS_OK};
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
    /// `true` while callbacks may run; flipped under the write lock by `release`.
    open: RwLock<bool>,
    released: AtomicBool,
}

impl HostCrypto {
    /// Takes ownership of the table: `release(user_data)` runs exactly once, at
    /// [`HostCrypto::release`] or when this value is dropped.
    pub fn new(table: fg_callbacks) -> HostCrypto {
        HostCrypto { table, open: RwLock::new(true), released: AtomicBool::new(false) }
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
            ("self_identity", t.self_identity.is_null() && t.self_identity_fn.is_none()),
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
                return Err(CryptoError::MalformedIdentity("self_identity_len is 0".into()));
            }
            // SAFETY: the host promises `self_identity_len` readable bytes during fg_init.
            return Ok(unsafe { std::slice::from_raw_parts(t.self_identity, t.self_identity_len) }.to_vec());
        }
        let f = t.self_identity_fn.ok_or_else(|| host_err("self_identity", "missing"))?;
        let id = self.call_out("self_identity_fn", IDENTITY_CAP, |out, cap, len| unsafe {
            f(t.user_data, out, cap, len)
        })?;
        if id.is_empty() {
            return Err(CryptoError::MalformedIdentity("host returned an empty identity".into()));
        }
        Ok(id)
    }

    /// Closes the table: waits for running callbacks, forbids new ones, then calls
    /// `release(user_data)` if that has not happened yet.
    pub fn release(&self) {
        {
            let mut open = self.open.write().unwrap_or_else(|e| e.into_inner());
            *open = false;
        }
        if !self.released.swap(true, Ordering::AcqRel) {
            if let Some(release) = self.table.release {
                let _scope = CallbackScope::enter();
                // SAFETY: called once, with the host's own user_data.
                unsafe { release(self.table.user_data) };
            }
        }
    }

    /// Runs one host call while the table is open and the thread is marked "in callback".
    fn call<R>(&self, name: &str, f: impl FnOnce() -> R) -> Result<R, CryptoError> {
        let open = self.open.read().unwrap_or_else(|e| e.into_inner());
        if !*open {
            return Err(host_err(name, "host callbacks already released"));
        }
        let _scope = CallbackScope::enter();
        Ok(f())
    }

    /// Calls a host function that fills `(out, cap, out_len)`, retrying once with the size
    /// the host asks for on `FG_STATUS_BUFFER_TOO_SMALL`.
    fn call_out(
        &self,
        name: &str,
        first_cap: usize,
        f: impl Fn(*mut u8, usize, *mut usize) -> fg_status,
    ) -> Result<Vec<u8>, CryptoError> {
        let mut cap = first_cap;
        for attempt in 0..2 {
            let mut buf = vec![0u8; cap];
            let mut len = 0usize;
            let status = self.call(name, || f(buf.as_mut_ptr(), cap, &mut len))?;
            match status {
                FG_STATUS_OK if len <= cap => {
                    buf.truncate(len);
                    return Ok(buf);
                }
                FG_STATUS_OK => {
                    return Err(host_err(name, &format!("reported {len} bytes in a {cap}-byte buffer")))
                }
                FG_STATUS_BUFFER_TOO_SMALL if attempt == 0 && len > cap && len <= MAX_HOST_OUTPUT => {
                    cap = len;
                }
                FG_STATUS_BUFFER_TOO_SMALL => {
                    return Err(host_err(name, &format!("asked for {len} bytes (had {cap}, limit {MAX_HOST_OUTPUT})")))
                }
                other => return Err(host_err(name, status_label(other))),
            }
        }
        Err(host_err(name, "buffer still too small after one retry"))
    }

    /// Turns a status from a yes/no callback into a result.
    fn check(&self, name: &str, status: Result<fg_status, CryptoError>, refused: impl FnOnce(String) -> CryptoError) -> Result<(), CryptoError> {
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
    CryptoError::Host(format!("{name}: {what}"))
}

/// PKI-ID of an `msp.SerializedIdentity`: SHA-256(mspid ‖ id_bytes), as the built-in
/// identities compute it.
pub fn default_pki_id(identity: &[u8]) -> Result<PkiId, CryptoError> {
    let sid = SerializedIdentity::decode(identity)
        .map_err(|e| CryptoError::MalformedIdentity(format!("not an msp.SerializedIdentity: {e}")))?;
    let mut h = Sha256::new();
    h.update(sid.mspid.as_bytes());
    h.update(&sid.id_bytes);
    Ok(PkiId(h.finalize().to_vec()))
}

impl MessageCryptoService for HostCrypto {
    fn pki_id_of(&self, identity: &[u8]) -> Result<PkiId, CryptoError> {
        let t = &self.table;
        let Some(f) = t.pki_id_of else { return default_pki_id(identity) };
        let id = self.call_out("pki_id_of", PKI_ID_CAP, |out, cap, len| unsafe {
            f(t.user_data, identity.as_ptr(), identity.len(), out, cap, len)
        })?;
        if id.is_empty() {
            return Err(host_err("pki_id_of", "empty PKI-ID"));
        }
        Ok(PkiId(id))
    }

    fn verify_block(&self, channel: &str, seq: u64, block: &[u8]) -> Result<(), CryptoError> {
        let t = &self.table;
        let f = t.verify_block.ok_or_else(|| host_err("verify_block", "NULL"))?;
        let st = self.call("verify_block", || unsafe {
            f(t.user_data, channel.as_ptr(), channel.len(), seq, block.as_ptr(), block.len())
        });
        self.check("verify_block", st, CryptoError::InvalidBlock)
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let t = &self.table;
        let f = t.sign.ok_or_else(|| host_err("sign", "NULL"))?;
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
        let f = t.verify_by_channel.ok_or_else(|| host_err("verify_by_channel", "NULL"))?;
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
        self.check("verify_by_channel", st, |_| CryptoError::NotInChannel(channel.to_string()))
    }

    fn validate_identity(&self, identity: &[u8]) -> Result<(), CryptoError> {
        let t = &self.table;
        let f = t.validate_identity.ok_or_else(|| host_err("validate_identity", "NULL"))?;
        let st = self.call("validate_identity", || unsafe { f(t.user_data, identity.as_ptr(), identity.len()) });
        self.check("validate_identity", st, CryptoError::UntrustedIdentity)
    }

    fn expiration(&self, identity: &[u8]) -> Result<Option<SystemTime>, CryptoError> {
        let t = &self.table;
        let Some(f) = t.expiration else { return Ok(None) };
        let mut secs = 0i64;
        let st = self.call("expiration", || unsafe { f(t.user_data, identity.as_ptr(), identity.len(), &mut secs) })?;
        match st {
            FG_STATUS_OK => {
                let at = if secs >= 0 {
                    UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))
                } else {
                    UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
                };
                at.map(Some).ok_or_else(|| host_err("expiration", "time out of range"))
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
        let res = self
            .call_out("org_of_identity", ORG_CAP, |out, cap, len| unsafe {
                f(t.user_data, identity.as_ptr(), identity.len(), out, cap, len)
            })
            .and_then(|org| {
                String::from_utf8(org).map_err(|_| host_err("org_of_identity", "MSP ID is not UTF-8"))
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

//! `fg_callbacks`: the host's crypto services (Fabric's `MessageCryptoService` and
//! `SecurityAdvisor`) as a table of C function pointers.
//!
//! Rules shared by every callback in the table:
//! - **Thread**: called from the library's worker thread (`fg-worker`) or its blocking
//!   pool (`fg-blocking`), and from the thread that calls `fg_init`; calls may overlap, so the code must be
//!   thread-safe.
//! - **Borrowing**: every input pointer is borrowed and valid only during the call; copy what
//!   you keep. Text inputs (`channel`) are UTF-8 with an explicit length, not NUL-terminated.
//! - **Outputs**: written into a library buffer `(out, cap, out_len)`. When `cap` is too
//!   small, write the needed length to `*out_len` and return `FG_STATUS_BUFFER_TOO_SMALL`;
//!   the library retries once with a buffer of that size.
//! - **Latency**: do not block for long; gossip traffic waits on the answer.
//! - **Re-entry**: an `fg_*` call made inside a callback returns `FG_STATUS_REENTRANT`.
//! - **Errors**: any status other than `FG_STATUS_OK` means "refused" (bad signature,
//!   unknown identity, failure); it is never a crash.
//! - **Lifetime**: no callback runs after `fg_shutdown` returns. `release(user_data)` is
//!   called exactly once per `fg_init` that received the table: by `fg_shutdown` when
//!   `fg_init` succeeded, or before `fg_init` returns when it failed.

use std::ffi::c_void;

use crate::ffi::status::fg_status;

/// Called once when the library no longer uses `user_data`. Nullable.
pub type fg_release_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// Writes this peer's serialized identity (e.g. `msp.SerializedIdentity` bytes) into
/// `(out, cap, out_len)`. Used when `fg_callbacks.self_identity` is NULL.
pub type fg_self_identity_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        out: *mut u8,
        cap: usize,
        out_len: *mut usize,
    ) -> fg_status,
>;

/// Signs `msg` with this peer's signing key; the signature goes to `(out, cap, out_len)`.
pub type fg_sign_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        msg: *const u8,
        msg_len: usize,
        out: *mut u8,
        cap: usize,
        out_len: *mut usize,
    ) -> fg_status,
>;

/// Returns `FG_STATUS_OK` when `signature` over `msg` was made by `identity`.
pub type fg_verify_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        identity: *const u8,
        identity_len: usize,
        signature: *const u8,
        signature_len: usize,
        msg: *const u8,
        msg_len: usize,
    ) -> fg_status,
>;

/// As `fg_verify_fn`, and the signer must satisfy the readers policy of `channel`.
pub type fg_verify_by_channel_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        channel: *const u8,
        channel_len: usize,
        identity: *const u8,
        identity_len: usize,
        signature: *const u8,
        signature_len: usize,
        msg: *const u8,
        msg_len: usize,
    ) -> fg_status,
>;

/// Returns `FG_STATUS_OK` when `block` (a serialized `common.Block`) is valid for `channel`
/// at sequence number `seq`.
pub type fg_verify_block_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        channel: *const u8,
        channel_len: usize,
        seq: u64,
        block: *const u8,
        block_len: usize,
    ) -> fg_status,
>;

/// Returns `FG_STATUS_OK` when `identity` is well formed, trusted and not revoked.
pub type fg_validate_identity_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        identity: *const u8,
        identity_len: usize,
    ) -> fg_status,
>;

/// Writes a value derived from `identity` (its PKI-ID, or its organization's MSP ID as
/// UTF-8 text) into `(out, cap, out_len)`.
pub type fg_identity_query_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        identity: *const u8,
        identity_len: usize,
        out: *mut u8,
        cap: usize,
        out_len: *mut usize,
    ) -> fg_status,
>;

/// Writes when `identity` expires, in seconds since the Unix epoch, to `*out_unix_s`.
/// Return `FG_STATUS_NOT_FOUND` when it never expires.
pub type fg_expiration_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        identity: *const u8,
        identity_len: usize,
        out_unix_s: *mut i64,
    ) -> fg_status,
>;

/// The host's crypto services (Fabric's `MessageCryptoService` and `SecurityAdvisor`).
/// Pass to `fg_init`, which copies the table and the `self_identity` bytes before returning.
/// Required: `sign`, `verify`, `verify_by_channel`, `verify_block`, `validate_identity`,
/// `org_of_identity`, and one of `self_identity` / `self_identity_fn`.
///
/// Rules for every callback:
/// - Thread: called from library threads (`fg-worker`, `fg-blocking`) and from the thread
///   inside `fg_init`; calls overlap, so callbacks must be thread-safe.
/// - Borrowing: input pointers are valid only during the call; copy what you keep. Text
///   inputs (`channel`) are UTF-8 with a length, not NUL-terminated.
/// - Outputs go to a library buffer `(out, cap, out_len)`. When `cap` is too small, write the
///   needed length to `*out_len` and return `FG_STATUS_BUFFER_TOO_SMALL`; the library retries
///   once with that size.
/// - Do not block for long: gossip traffic waits on the answer.
/// - Any `fg_*` call made inside a callback returns `FG_STATUS_REENTRANT`.
/// - A status other than `FG_STATUS_OK` means "refused" or "failed"; never a crash.
/// - No callback runs after `fg_shutdown` returns. `release(user_data)` runs exactly once per
///   `fg_init` given this table: in `fg_shutdown` when `fg_init` succeeded, else before
///   `fg_init` returns.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct fg_callbacks {
    /// Passed as the first argument of every callback; opaque to the library.
    pub user_data: *mut c_void,
    /// Optional: called exactly once when the library is done with `user_data`.
    pub release: fg_release_fn,
    /// This peer's serialized identity, copied during `fg_init`; NULL to use
    /// `self_identity_fn` instead.
    pub self_identity: *const u8,
    /// Length of `self_identity`.
    pub self_identity_len: usize,
    /// Produces this peer's serialized identity when `self_identity` is NULL.
    pub self_identity_fn: fg_self_identity_fn,
    /// Fabric's `MessageCryptoService.Sign`.
    pub sign: fg_sign_fn,
    /// Fabric's `MessageCryptoService.Verify`.
    pub verify: fg_verify_fn,
    /// Fabric's `MessageCryptoService.VerifyByChannel`.
    pub verify_by_channel: fg_verify_by_channel_fn,
    /// Fabric's `MessageCryptoService.VerifyBlock`.
    pub verify_block: fg_verify_block_fn,
    /// Fabric's `MessageCryptoService.ValidateIdentity`.
    pub validate_identity: fg_validate_identity_fn,
    /// Optional: Fabric's `MessageCryptoService.GetPKIidOfCert`. When NULL the PKI-ID is
    /// SHA-256(mspid ‖ id_bytes) of the `msp.SerializedIdentity`.
    pub pki_id_of: fg_identity_query_fn,
    /// Fabric's `SecurityAdvisor.OrgByPeerIdentity`: writes the MSP ID (UTF-8).
    pub org_of_identity: fg_identity_query_fn,
    /// Optional: Fabric's `MessageCryptoService.Expiration`. NULL means identities never
    /// expire.
    pub expiration: fg_expiration_fn,
}

// SAFETY: the table is only plain function pointers and the host's opaque `user_data`; the
// contract above makes the host responsible for the thread-safety of what `user_data` points
// to, and the self identity bytes are copied during `fg_init`.
unsafe impl Send for fg_callbacks {}
// SAFETY: as for `Send`: the contract says calls overlap, from any library thread.
unsafe impl Sync for fg_callbacks {}

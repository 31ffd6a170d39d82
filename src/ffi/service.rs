//! The process-wide gossip service behind `fg_init` / `fg_shutdown`, and the queries on it.
//!
//! The singleton is the only global of the library: everything under it is an ordinary
//! `GossipService` value. `LIFECYCLE` serializes init and shutdown; `RUNNING` is held only
//! for a moment by queries, so `fg_peers` never waits on a starting or stopping service.

use std::ffi::c_char;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::crypto::host::HostCrypto;
use crate::crypto::CryptoContext;
use crate::ffi::bytes::fg_bytes;
use crate::ffi::callbacks::fg_callbacks;
use crate::ffi::panic::ffi_boundary;
use crate::ffi::reentry::reject_reentry;
use crate::ffi::status::*;
use super::node_shim::{builtin_crypto, Config, GossipService, NodeError};

/// What `fg_init` started and `fg_shutdown` tears down.
struct Running {
    runtime: tokio::runtime::Runtime,
    service: Arc<GossipService>,
    host: Option<Arc<HostCrypto>>,
}

/// Held across the whole of `fg_init` and `fg_shutdown`.
static LIFECYCLE: Mutex<Option<Running>> = Mutex::new(None);
/// The running service for queries; set last by `fg_init`, cleared first by `fg_shutdown`.
static RUNNING: Mutex<Option<Arc<GossipService>>> = Mutex::new(None);

fn lock<T>(m: &'static Mutex<T>) -> MutexGuard<'static, T> {
    // A panic while holding the lock was caught at the boundary; the data is still consistent
    // because every critical section only swaps an Option.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn current() -> Option<Arc<GossipService>> {
    lock(&RUNNING).clone()
}

/// A failure of `fg_init`: a status and the detail text for `err_out`.
struct InitError(fg_status, String);

fn node_status(e: &NodeError) -> fg_status {
    let _ = e;
    FG_STATUS_IO
}

/// Builds the runtime the library owns: two named workers, io and time drivers, and no
/// signal handling (signal handlers break Go hosts).
fn build_runtime() -> Result<tokio::runtime::Runtime, InitError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fg-worker")
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| InitError(FG_STATUS_INTERNAL, format!("cannot build the runtime: {e}")))
}

fn host_crypto(host: &Arc<HostCrypto>) -> Result<CryptoContext, InitError> {
    host.check_required().map_err(|e| InitError(FG_STATUS_INVALID_ARG, e))?;
    let identity = host
        .self_identity()
        .map_err(|e| InitError(FG_STATUS_CRYPTO, format!("self identity: {e}")))?;
    CryptoContext::new(host.clone(), host.clone(), identity)
        .map_err(|e| InitError(FG_STATUS_CRYPTO, format!("self identity: {e}")))
}

fn init(config_text: &[u8], host: Option<Arc<HostCrypto>>) -> Result<(), InitError> {
    let text = std::str::from_utf8(config_text)
        .map_err(|e| InitError(FG_STATUS_INVALID_ARG, format!("config text is not UTF-8: {e}")))?;
    let mut lifecycle = lock(&LIFECYCLE);
    if lifecycle.is_some() {
        return Err(InitError(FG_STATUS_ALREADY_INITIALIZED, "the gossip service is already running".into()));
    }
    let config = Config::parse(text).map_err(|e| InitError(FG_STATUS_CONFIG, e.to_string()))?;
    let crypto = match &host {
        Some(h) => host_crypto(h)?,
        None => builtin_crypto(&config).map_err(|e| InitError(node_status(&e), e.to_string()))?,
    };
    let runtime = build_runtime()?;
    let service = runtime
        .block_on(GossipService::start(config, crypto))
        .map_err(|e| InitError(node_status(&e), e.to_string()))?;
    let service = Arc::new(service);
    *lock(&RUNNING) = Some(service.clone());
    *lifecycle = Some(Running { runtime, service, host });
    Ok(())
}

/// Starts the gossip service from config text (YAML or JSON, the `peer` keys of Fabric's
/// `core.yaml` plus the `fabgossip` section).
///
/// - `config_text`, `config_len`: the text, copied before return; must not be NULL/empty.
/// - `callbacks`: the host's crypto services, copied; NULL selects the built-in Ed25519
///   identities configured in the text. See `fg_callbacks` for when `release` runs.
/// - `err_out`: NULL, or receives the error detail (e.g. the offending config key) when the
///   call fails; free it with `fg_bytes_free`. Untouched on success.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG`, `FG_STATUS_ALREADY_INITIALIZED`,
/// `FG_STATUS_CONFIG`, `FG_STATUS_CRYPTO`, `FG_STATUS_IO` (e.g. the port is taken),
/// `FG_STATUS_INTERNAL`, `FG_STATUS_REENTRANT` or `FG_STATUS_PANIC`. Blocks until the
/// listener is bound. After `fg_shutdown`, `fg_init` may be called again.
///
/// # Safety
/// `config_text` points to `config_len` readable bytes; `callbacks` is NULL or a valid
/// table; `err_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fg_init(
    config_text: *const c_char,
    config_len: usize,
    callbacks: *const fg_callbacks,
    err_out: *mut fg_bytes,
) -> fg_status {
    ffi_boundary!(FG_STATUS_PANIC, {
        // Owning the table first makes `release` run exactly once on every failure path.
        let host = callbacks.as_ref().map(|cb| Arc::new(HostCrypto::new(*cb)));
        reject_reentry!();
        let result = if config_text.is_null() || config_len == 0 {
            Err(InitError(FG_STATUS_INVALID_ARG, "config_text is NULL or empty".into()))
        } else {
            let text = std::slice::from_raw_parts(config_text.cast::<u8>(), config_len);
            init(text, host.clone())
        };
        match result {
            Ok(()) => FG_STATUS_OK,
            Err(InitError(status, detail)) => {
                // The runtime and every task are gone by now; close the table even if a
                // clone of it leaked somewhere.
                if let Some(h) = host {
                    h.release();
                }
                tracing::warn!(target: "fabgossip::ffi", "fg_init failed: {detail}");
                fg_bytes::write_to(err_out, detail.into_bytes());
                status
            }
        }
    })
}

/// Stops the gossip service: closes connections, joins the runtime's threads and calls the
/// host's `release(user_data)`. When it returns no callback is running or will run.
/// Idempotent: returns `FG_STATUS_OK` when nothing is running. Returns
/// `FG_STATUS_REENTRANT` inside a callback.
#[no_mangle]
pub extern "C" fn fg_shutdown() -> fg_status {
    ffi_boundary!(FG_STATUS_PANIC, {
        reject_reentry!();
        let mut lifecycle = lock(&LIFECYCLE);
        let Some(Running { runtime, service, host }) = lifecycle.take() else {
            return FG_STATUS_OK;
        };
        lock(&RUNNING).take();
        runtime.block_on(service.stop());
        drop(service);
        // Dropping the runtime joins its worker and blocking threads.
        drop(runtime);
        if let Some(host) = host {
            host.release();
        }
        FG_STATUS_OK
    })
}

/// Writes the peers this peer knows (self excluded) to `*out_json` as a JSON array of
/// `{"pki_id","endpoint","internal_endpoint","org","state":"alive"|"dead"}`. Never blocks
/// on the network. Free the result with `fg_bytes_free`.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG` (NULL `out_json`),
/// `FG_STATUS_NOT_INITIALIZED`, `FG_STATUS_REENTRANT`, `FG_STATUS_INTERNAL` or
/// `FG_STATUS_PANIC`.
///
/// # Safety
/// `out_json` is NULL or points to a writable `fg_bytes`.
#[no_mangle]
pub unsafe extern "C" fn fg_peers(out_json: *mut fg_bytes) -> fg_status {
    ffi_boundary!(FG_STATUS_PANIC, {
        reject_reentry!();
        if out_json.is_null() {
            return FG_STATUS_INVALID_ARG;
        }
        let Some(service) = current() else { return FG_STATUS_NOT_INITIALIZED };
        match serde_json::to_vec(&service.peers()) {
            Ok(json) => {
                fg_bytes::write_to(out_json, json);
                FG_STATUS_OK
            }
            Err(_) => FG_STATUS_INTERNAL,
        }
    })
}

/// Writes this peer as JSON (`{"pki_id","endpoint","internal_endpoint","org","state"}`,
/// with the endpoint actually bound) to `*out_json`. Free it with `fg_bytes_free`.
/// Same statuses as `fg_peers`.
///
/// # Safety
/// `out_json` is NULL or points to a writable `fg_bytes`.
#[no_mangle]
pub unsafe extern "C" fn fg_self(out_json: *mut fg_bytes) -> fg_status {
    ffi_boundary!(FG_STATUS_PANIC, {
        reject_reentry!();
        if out_json.is_null() {
            return FG_STATUS_INVALID_ARG;
        }
        let Some(service) = current() else { return FG_STATUS_NOT_INITIALIZED };
        match serde_json::to_vec(&service.self_info()) {
            Ok(json) => {
                fg_bytes::write_to(out_json, json);
                FG_STATUS_OK
            }
            Err(_) => FG_STATUS_INTERNAL,
        }
    })
}

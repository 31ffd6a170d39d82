//! The process-wide gossip service behind `fg_init` / `fg_shutdown`, and the queries on it.
//!
//! The singleton is the only global of the library: everything under it is an ordinary
//! `GossipService` value. `LIFECYCLE` serializes init and shutdown; `RUNNING` is held only
//! for a moment by queries, so `fg_peers` never waits on a starting or stopping service.

use std::ffi::c_char;
use std::sync::{Arc, Mutex};

use super::host_crypto::HostCrypto;
use super::host_ledger::{HostLedgerProvider, HostLedgerTable};
use crate::config::{Config, ConfigOrigin};
use crate::crypto::CryptoContext;
use crate::ffi::bytes::fg_bytes;
use crate::ffi::call::{self, Out};
use crate::ffi::call_error::CallError;
use crate::ffi::callbacks::fg_callbacks;
use crate::ffi::counters::{self, CallId};
use crate::ffi::leadership_queue::LeadershipQueue;
use crate::ffi::runtime::LibRuntime;
use crate::ffi::status::*;
use crate::ledger::LedgerProvider;
use crate::node::{builtin_crypto, GossipService, LedgerProviderError, NodeError};
use crate::sync::MutexExt;

/// What `fg_init` started and `fg_shutdown` tears down.
struct Running {
    runtime: LibRuntime,
    service: Arc<GossipService>,
    host: Option<Arc<HostCrypto>>,
    /// The host ledger table of `fg_set_ledger_callbacks`, released when replaced or at
    /// shutdown.
    ledger: Option<Arc<HostLedgerTable>>,
    /// Leadership changes on their way to the host's callback.
    leadership: Arc<LeadershipQueue>,
}

/// Held across the whole of `fg_init` and `fg_shutdown`.
static LIFECYCLE: Mutex<Option<Running>> = Mutex::new(None);
/// The running service for queries; set last by `fg_init`, cleared first by `fg_shutdown`.
static RUNNING: Mutex<Option<Arc<GossipService>>> = Mutex::new(None);

pub(crate) fn current() -> Option<Arc<GossipService>> {
    RUNNING.locked().clone()
}

fn node_status(e: &NodeError) -> fg_status {
    match e {
        NodeError::Config(_) => FG_STATUS_CONFIG,
        NodeError::Io(_) | NodeError::Comm(_) => FG_STATUS_IO,
        NodeError::Crypto(_) => FG_STATUS_CRYPTO,
    }
}

/// Runs `work` (init or shutdown) on a short-lived library thread: blocking is allowed
/// there even when the caller is inside a Tokio runtime (a Rust host), and SIGPIPE is
/// blocked like on every library thread. Host callbacks made during `work` run there too.
/// `None` when the thread cannot be created.
fn on_control_thread<R: Send>(work: impl FnOnce() -> R + Send) -> Option<R> {
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("fg-control".into())
            .spawn_scoped(s, || {
                crate::ffi::sigpipe::block_on_this_thread();
                work()
            });
        match handle {
            Ok(h) => match h.join() {
                Ok(r) => Some(r),
                Err(payload) => std::panic::resume_unwind(payload),
            },
            Err(e) => {
                tracing::error!(target: "fabgossip::ffi", "cannot start a control thread: {e}");
                None
            }
        }
    })
}

fn host_crypto(host: &Arc<HostCrypto>) -> Result<CryptoContext, CallError> {
    host.check_required()
        .map_err(|e| CallError::new(FG_STATUS_INVALID_ARG, e))?;
    let identity = host
        .self_identity()
        .map_err(|e| CallError::new(FG_STATUS_CRYPTO, format!("self identity: {e}")))?;
    CryptoContext::new(host.clone(), host.clone(), identity)
        .map_err(|e| CallError::new(FG_STATUS_CRYPTO, format!("self identity: {e}")))
}

/// `peer.mspConfigPath` when it names an MSP folder (with `signcerts`): the peer then signs
/// and validates with Fabric's X.509 MSP instead of the Ed25519 default.
fn msp_folder(config: &Config) -> Option<std::path::PathBuf> {
    config
        .peer
        .msp_config_path
        .clone()
        .filter(|d| crate::crypto::msp::MspCrypto::is_msp_folder(d))
}

fn msp_crypto(config: &Config) -> Result<CryptoContext, CallError> {
    let dir = msp_folder(config).unwrap_or_default();
    crate::crypto::msp::MspCrypto::open(&dir, &config.peer.local_msp_id)
        .and_then(|c| c.context())
        .map_err(|e| CallError::new(FG_STATUS_CRYPTO, format!("{}: {e}", dir.display())))
}

/// Where `fg_init` or `fg_init_from_file` gets its config.
enum ConfigInput<'a> {
    Text(&'a [u8]),
    File(std::path::PathBuf),
}

fn load_config(input: ConfigInput<'_>) -> Result<Config, CallError> {
    let config_error =
        |e: crate::config::ConfigError| CallError::new(FG_STATUS_CONFIG, e.to_string());
    let config = match input {
        ConfigInput::Text(bytes) => {
            let text = std::str::from_utf8(bytes).map_err(|e| {
                CallError::new(
                    FG_STATUS_INVALID_ARG,
                    format!("config text is not UTF-8: {e}"),
                )
            })?;
            Config::load(text, &ConfigOrigin::for_text().map_err(config_error)?)
        }
        ConfigInput::File(path) => Config::load_file(&path),
    }
    .map_err(config_error)?;
    // Fabric's defaults (0.0.0.0:7051, /var/hyperledger/production) apply to absent keys;
    // say where this peer listens and keeps its data.
    tracing::info!(
        target: "fabgossip::config",
        "peer.listenAddress {}, peer.fileSystemPath {}",
        config.peer.listen_address,
        config.peer.file_system_path.display()
    );
    Ok(config)
}

fn init(input: ConfigInput<'_>, host: Option<Arc<HostCrypto>>) -> Result<(), CallError> {
    let mut lifecycle = LIFECYCLE.locked();
    if lifecycle.is_some() {
        return Err(CallError::new(
            FG_STATUS_ALREADY_INITIALIZED,
            "the gossip service is already running",
        ));
    }
    let config = load_config(input)?;
    crate::ffi::wait::set_deadline(config.fabgossip.call_timeout);
    // The built-in crypto is kept by the service: joined channels set its member orgs.
    let (crypto, builtin) = match &host {
        Some(h) => (Some(host_crypto(h)?), None),
        None if msp_folder(&config).is_some() => (Some(msp_crypto(&config)?), None),
        None => {
            let (ed, _) = builtin_crypto(&config)
                .map_err(|e| CallError::new(node_status(&e), e.to_string()))?;
            (None, Some(ed))
        }
    };
    let runtime = LibRuntime::start().map_err(|e| {
        CallError::new(FG_STATUS_INTERNAL, format!("cannot start the runtime: {e}"))
    })?;
    let started = match (crypto, builtin) {
        (Some(crypto), _) => runtime.block_on(GossipService::start(config, crypto)),
        (None, Some(ed)) => runtime.block_on(GossipService::start_with_builtin(config, ed)),
        (None, None) => Err(NodeError::Crypto("no crypto was chosen".into())),
    };
    let service = started.map_err(|e| CallError::new(node_status(&e), e.to_string()))?;
    let service = Arc::new(service);
    let leadership = match crate::ffi::election::attach(&service) {
        Ok(q) => q,
        Err(e) => {
            runtime.block_on(service.stop());
            return Err(CallError::new(
                FG_STATUS_INTERNAL,
                format!("cannot start the leadership delivery thread: {e}"),
            ));
        }
    };
    *RUNNING.locked() = Some(service.clone());
    *lifecycle = Some(Running {
        runtime,
        service,
        host,
        ledger: None,
        leadership,
    });
    Ok(())
}

/// `fg_set_ledger_callbacks` on the running service: `table` (None: the embedded file
/// ledger) opens the ledgers of channels joined from now on. On success the table given
/// before is released; on failure the caller releases `table`.
pub(crate) fn set_ledger(table: Option<Arc<HostLedgerTable>>) -> Result<(), (fg_status, String)> {
    let mut lifecycle = LIFECYCLE.locked();
    let Some(running) = lifecycle.as_mut() else {
        return Err((
            FG_STATUS_NOT_INITIALIZED,
            "the gossip service is not running".into(),
        ));
    };
    let provider = table
        .clone()
        .map(|t| Arc::new(HostLedgerProvider::new(t)) as Arc<dyn LedgerProvider>);
    let service = running.service.clone();
    // The owner task runs on the library's runtime, so waiting here cannot starve it.
    let waited = crate::ffi::wait::wait(
        "fg_set_ledger_callbacks",
        service.set_ledger_provider(provider),
    )
    .map_err(|e| (e.status, e.detail))?;
    match waited {
        Ok(()) => {
            if let Some(old) = std::mem::replace(&mut running.ledger, table) {
                // Its ledgers were closed with their channels; release waits for a commit
                // of a left channel that may still be running.
                old.release();
            }
            Ok(())
        }
        Err(e @ LedgerProviderError::ChannelsJoined(_)) => Err((FG_STATUS_BUSY, e.to_string())),
        Err(e @ LedgerProviderError::Stopped) => Err((FG_STATUS_SHUTDOWN, e.to_string())),
    }
}

/// Starts the gossip service from config text (YAML or JSON, the `peer` keys of Fabric's
/// `core.yaml` plus the `fabgossip` section).
///
/// The config is read as a Fabric peer reads its `core.yaml`: the whole file is accepted
/// (keys and sections of it that gossip does not use are listed at debug level; an unknown
/// key under `peer.gossip` or `fabgossip` is an error naming it); every key may be overridden
/// by a `CORE_*` environment variable (the key upper-cased, dots as underscores:
/// `CORE_PEER_GOSSIP_BOOTSTRAP` sets `peer.gossip.bootstrap`). Relative paths
/// (`peer.fileSystemPath`, `peer.mspConfigPath`, `peer.tls.*`, `caCertsFile`) resolve
/// against the folder named by `FABRIC_CFG_PATH` when it is set, else against the working
/// directory; `fg_init_from_file` resolves them against the file's folder. A document that
/// is empty, `null` or not a mapping is `FG_STATUS_CONFIG`. Absent keys take Fabric's
/// defaults, `peer.listenAddress` 0.0.0.0:7051 and `peer.fileSystemPath`
/// /var/hyperledger/production included; both are logged at info level.
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
    const CALL: CallId = CallId::named("fg_init");
    // SAFETY: `err_out` is NULL or writable, as this function requires.
    let err = unsafe { Out::new(err_out) };
    // SAFETY: `callbacks` is NULL or a valid table, as this function requires; it is copied.
    let table = unsafe { callbacks.as_ref() }.copied();
    // Owning the table before the call runs makes `release` run exactly once on every
    // failure path: a refused call drops it unused, which releases it.
    let host = table.map(|cb| Arc::new(HostCrypto::new(cb)));
    call::run(CALL, err, move || {
        if config_text.is_null() || config_len == 0 {
            return init_failed(CallError::invalid_arg("config_text is NULL or empty"), host);
        }
        // SAFETY: `config_text` points to `config_len` readable bytes, as this function
        // requires; init reads them before it returns.
        let text = unsafe { std::slice::from_raw_parts(config_text.cast::<u8>(), config_len) };
        init_on_control_thread(ConfigInput::Text(text), host)
    })
}

/// Like `fg_init`, with the config read from the file at `path` (`path_len` bytes of UTF-8,
/// no NUL needed): relative paths in it resolve against the file's folder, as Fabric
/// resolves those of its `core.yaml`; `CORE_*` environment variables override its keys.
///
/// Returns the statuses of `fg_init`; `FG_STATUS_CONFIG` also when the file cannot be read
/// (`err_out` names it); `FG_STATUS_INVALID_ARG` for a NULL/empty/non-UTF-8 path.
///
/// # Safety
/// `path` points to `path_len` readable bytes; `callbacks` is NULL or a valid table;
/// `err_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fg_init_from_file(
    path: *const c_char,
    path_len: usize,
    callbacks: *const fg_callbacks,
    err_out: *mut fg_bytes,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_init_from_file");
    // SAFETY: `err_out` is NULL or writable, as this function requires.
    let err = unsafe { Out::new(err_out) };
    // SAFETY: `callbacks` is NULL or a valid table, as this function requires; it is copied.
    let table = unsafe { callbacks.as_ref() }.copied();
    // As in `fg_init`: a refused call drops the table unused, which releases it.
    let host = table.map(|cb| Arc::new(HostCrypto::new(cb)));
    call::run(CALL, err, move || {
        // SAFETY: `path` points to `path_len` readable bytes, as this function requires.
        match unsafe { crate::ffi::call_error::text_arg("path", path, path_len) } {
            Err(e) => init_failed(e, host),
            Ok(p) => init_on_control_thread(ConfigInput::File(p.into()), host),
        }
    })
}

fn init_on_control_thread(
    input: ConfigInput<'_>,
    host: Option<Arc<HostCrypto>>,
) -> Result<(), CallError> {
    let started = on_control_thread({
        let host = host.clone();
        move || init(input, host)
    })
    .unwrap_or_else(|| {
        Err(CallError::new(
            FG_STATUS_INTERNAL,
            "cannot start a control thread",
        ))
    });
    match started {
        Ok(()) => Ok(()),
        Err(e) => init_failed(e, host),
    }
}

/// A failed init: counted, and the host's table released (the runtime and every task are
/// gone by now; close the table even if a clone of it leaked somewhere).
fn init_failed(e: CallError, host: Option<Arc<HostCrypto>>) -> Result<(), CallError> {
    counters::bump(&counters::counters().init_failures);
    if let Some(h) = host {
        h.release();
    }
    Err(e)
}

/// Stops the gossip service: closes connections, joins the runtime's threads and calls the
/// host's `release(user_data)`. When it returns no callback is running or will run.
/// Idempotent: returns `FG_STATUS_OK` when nothing is running. Returns
/// `FG_STATUS_REENTRANT` inside a callback.
#[no_mangle]
pub extern "C" fn fg_shutdown() -> fg_status {
    const CALL: CallId = CallId::named("fg_shutdown");
    call::run(CALL, Out::none(), || {
        on_control_thread(|| {
            let mut lifecycle = LIFECYCLE.locked();
            let Some(Running {
                runtime,
                service,
                host,
                ledger,
                leadership,
            }) = lifecycle.take()
            else {
                return;
            };
            RUNNING.locked().take();
            runtime.block_on(service.stop());
            // The owner task is gone: the changes it queued reach the host now, then the
            // delivery thread ends.
            leadership.close();
            drop(service);
            // Dropping the runtime joins its worker and blocking threads.
            drop(runtime);
            if let Some(host) = host {
                host.release();
            }
            if let Some(ledger) = ledger {
                ledger.release();
            }
        })
        .ok_or_else(|| CallError::new(FG_STATUS_INTERNAL, "cannot start a control thread"))
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
    const CALL: CallId = CallId::named("fg_peers");
    // SAFETY: `out_json` is NULL or writable, as this function requires.
    let out = unsafe { Out::new(out_json) };
    call::run(CALL, Out::none(), || {
        write_json(&out, |service| service.peers())
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
    const CALL: CallId = CallId::named("fg_self");
    // SAFETY: `out_json` is NULL or writable, as this function requires.
    let out = unsafe { Out::new(out_json) };
    call::run(CALL, Out::none(), || {
        write_json(&out, |service| service.self_info())
    })
}

/// The body of every JSON query: checks `out_json`, reads the running service, serializes.
fn write_json<T: serde::Serialize>(
    out_json: &Out<fg_bytes>,
    query: impl FnOnce(&GossipService) -> T,
) -> Result<(), CallError> {
    out_json.required("out_json")?;
    let service = current().ok_or_else(CallError::not_initialized)?;
    out_json.write_bytes(serde_json::to_vec(&query(&service)).map_err(CallError::internal)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The singleton is process-wide, so its whole life cycle is one test.
    use super::*;
    use crate::ffi::bytes::fg_bytes_free;
    use ed25519_dalek::{Signer, SigningKey, Verifier};
    use prost::Message;
    use std::ffi::c_void;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A block the test host's `verify_block` refuses.
    const REFUSED_BLOCK: &[u8] = b"a block the host refuses";

    struct Host {
        key: SigningKey,
        identity: Vec<u8>,
        releases: AtomicUsize,
        signs: AtomicUsize,
    }

    unsafe fn host<'a>(ud: *mut c_void) -> &'a Host {
        // SAFETY: user_data is a Host that outlives every call, as tables built by `table` make it.
        unsafe { &*(ud as *const Host) }
    }

    unsafe fn input<'a>(p: *const u8, n: usize) -> &'a [u8] {
        // SAFETY: the caller passes `n` readable bytes at `p` (the library's contract for callback
        // inputs).
        unsafe {
            if n == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(p, n)
            }
        }
    }

    unsafe fn output(data: &[u8], out: *mut u8, cap: usize, len: *mut usize) -> fg_status {
        // SAFETY: the caller passes a `cap`-byte writable buffer and a writable `len` (the library's
        // contract for callback outputs).
        unsafe {
            *len = data.len();
            if data.len() > cap {
                return FG_STATUS_BUFFER_TOO_SMALL;
            }
            std::ptr::copy_nonoverlapping(data.as_ptr(), out, data.len());
            FG_STATUS_OK
        }
    }

    fn key_of(identity: &[u8]) -> Option<(String, ed25519_dalek::VerifyingKey)> {
        let sid = crate::proto::msp::SerializedIdentity::decode(identity).ok()?;
        let bytes: [u8; 32] = sid.id_bytes.as_slice().try_into().ok()?;
        Some((
            sid.mspid,
            ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()?,
        ))
    }

    unsafe extern "C" fn release(ud: *mut c_void) {
        // SAFETY: the library passes the user_data of the table (a live Host) and inputs readable for
        // their lengths during the call.
        unsafe {
            host(ud).releases.fetch_add(1, Ordering::SeqCst);
        }
    }
    unsafe extern "C" fn sign(
        ud: *mut c_void,
        m: *const u8,
        ml: usize,
        out: *mut u8,
        cap: usize,
        len: *mut usize,
    ) -> fg_status {
        // SAFETY: the library passes the user_data of the table (a live Host) and inputs readable for
        // their lengths during the call.
        unsafe {
            let h = host(ud);
            h.signs.fetch_add(1, Ordering::SeqCst);
            output(&h.key.sign(input(m, ml)).to_bytes(), out, cap, len)
        }
    }
    unsafe extern "C" fn verify(
        _ud: *mut c_void,
        i: *const u8,
        il: usize,
        s: *const u8,
        sl: usize,
        m: *const u8,
        ml: usize,
    ) -> fg_status {
        // SAFETY: the library passes the user_data of the table (a live Host) and inputs readable for
        // their lengths during the call.
        unsafe {
            let ok = key_of(input(i, il)).is_some_and(|(_, k)| {
                ed25519_dalek::Signature::from_slice(input(s, sl))
                    .is_ok_and(|sig| k.verify(input(m, ml), &sig).is_ok())
            });
            if ok {
                FG_STATUS_OK
            } else {
                FG_STATUS_CRYPTO
            }
        }
    }
    unsafe extern "C" fn verify_by_channel(
        ud: *mut c_void,
        _c: *const u8,
        _cl: usize,
        i: *const u8,
        il: usize,
        s: *const u8,
        sl: usize,
        m: *const u8,
        ml: usize,
    ) -> fg_status {
        // SAFETY: the library passes the user_data of the table (a live Host) and inputs readable for
        // their lengths during the call.
        unsafe { verify(ud, i, il, s, sl, m, ml) }
    }
    unsafe extern "C" fn verify_block(
        _ud: *mut c_void,
        _c: *const u8,
        _cl: usize,
        _seq: u64,
        b: *const u8,
        bl: usize,
    ) -> fg_status {
        // SAFETY: the library passes the user_data of the table (a live Host) and inputs readable for
        // their lengths during the call.
        unsafe {
            // `REFUSED_BLOCK` stands for a block that fails the host's checks.
            if bl > 0 && input(b, bl) != REFUSED_BLOCK {
                FG_STATUS_OK
            } else {
                FG_STATUS_CRYPTO
            }
        }
    }
    unsafe extern "C" fn validate_identity(_ud: *mut c_void, i: *const u8, il: usize) -> fg_status {
        // SAFETY: the library passes the user_data of the table (a live Host) and inputs readable for
        // their lengths during the call.
        unsafe {
            if key_of(input(i, il)).is_some() {
                FG_STATUS_OK
            } else {
                FG_STATUS_CRYPTO
            }
        }
    }
    unsafe extern "C" fn org_of_identity(
        _ud: *mut c_void,
        i: *const u8,
        il: usize,
        out: *mut u8,
        cap: usize,
        len: *mut usize,
    ) -> fg_status {
        // SAFETY: the library passes the user_data of the table (a live Host) and inputs readable for
        // their lengths during the call.
        unsafe {
            match key_of(input(i, il)) {
                Some((org, _)) => output(org.as_bytes(), out, cap, len),
                None => FG_STATUS_CRYPTO,
            }
        }
    }

    fn new_host() -> Box<Host> {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let identity = crate::proto::msp::SerializedIdentity {
            mspid: "Org1MSP".into(),
            id_bytes: key.verifying_key().to_bytes().to_vec(),
        }
        .encode_to_vec();
        Box::new(Host {
            key,
            identity,
            releases: AtomicUsize::new(0),
            signs: AtomicUsize::new(0),
        })
    }

    fn table(h: &Host) -> fg_callbacks {
        fg_callbacks {
            user_data: h as *const Host as *mut c_void,
            release: Some(release),
            self_identity: h.identity.as_ptr(),
            self_identity_len: h.identity.len(),
            self_identity_fn: None,
            sign: Some(sign),
            verify: Some(verify),
            verify_by_channel: Some(verify_by_channel),
            verify_block: Some(verify_block),
            validate_identity: Some(validate_identity),
            pki_id_of: None,
            org_of_identity: Some(org_of_identity),
            expiration: None,
        }
    }

    fn config() -> String {
        let dir = std::env::temp_dir().join(format!(
            "fabgossip-ffi-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        format!(
            "peer:\n  id: ffi-unit\n  localMspId: Org1MSP\n  listenAddress: 127.0.0.1:0\n  address: 127.0.0.1:0\n  fileSystemPath: {}\n  gossip:\n    bootstrap: \"\"\n",
            dir.display()
        )
    }

    fn init_with(h: &Host) -> (fg_status, String) {
        // SAFETY: the config text and the table are locals that outlive the call.
        unsafe {
            let text = config();
            let t = table(h);
            with_err(|e| fg_init(text.as_ptr().cast(), text.len(), &t, e))
        }
    }

    fn self_json() -> serde_json::Value {
        // SAFETY: `out` is a local; fg_self wrote `len` bytes at `ptr`.
        unsafe {
            let mut out = fg_bytes {
                ptr: std::ptr::null_mut(),
                len: 0,
            };
            assert_eq!(fg_self(&mut out), FG_STATUS_OK);
            let v = serde_json::from_slice(std::slice::from_raw_parts(out.ptr, out.len)).unwrap();
            fg_bytes_free(&mut out);
            v
        }
    }

    /// Runs one call with an `err_out`: its status and detail (empty when none was written).
    fn with_err(call: impl FnOnce(*mut fg_bytes) -> fg_status) -> (fg_status, String) {
        // SAFETY: `err` is a local `fg_bytes`; when not NULL, the library wrote `len` bytes at `ptr`.
        unsafe {
            let mut err = fg_bytes {
                ptr: std::ptr::null_mut(),
                len: 0,
            };
            let st = call(&mut err);
            let detail = if err.ptr.is_null() {
                String::new()
            } else {
                String::from_utf8_lossy(std::slice::from_raw_parts(err.ptr, err.len)).into_owned()
            };
            fg_bytes_free(&mut err);
            (st, detail)
        }
    }

    /// The channel calls against the running singleton (no other peer).
    fn channel_calls() {
        // SAFETY: every pointer passed is a local or a static byte string with its length, and every
        // out-param a local.
        unsafe {
            use crate::ffi::channel::*;
            let ch = b"mychannel";
            let null = std::ptr::null_mut;
            let call_join = |json: &[u8]| {
                with_err(|e| {
                    fg_join_channel(
                        ch.as_ptr().cast(),
                        ch.len(),
                        json.as_ptr().cast(),
                        json.len(),
                        e,
                    )
                })
            };
            let peers_of = |name: &[u8]| {
                let mut out = fg_bytes {
                    ptr: std::ptr::null_mut(),
                    len: 0,
                };
                let st = fg_peers_of_channel(name.as_ptr().cast(), name.len(), &mut out);
                let text = if out.ptr.is_null() {
                    None
                } else {
                    Some(
                        String::from_utf8_lossy(std::slice::from_raw_parts(out.ptr, out.len))
                            .into_owned(),
                    )
                };
                fg_bytes_free(&mut out);
                (st, text)
            };
            assert_eq!(peers_of(ch), (FG_STATUS_NOT_FOUND, None));
            assert_eq!(
                with_err(|e| fg_update_ledger_height(ch.as_ptr().cast(), ch.len(), 5, e)),
                (
                    FG_STATUS_NOT_FOUND,
                    "channel \"mychannel\" is not joined".to_string()
                )
            );
            // Bad JSON, unknown keys, own org missing, NULL arguments: refused, saying why.
            let (st, detail) = call_join(b"{");
            assert_eq!(st, FG_STATUS_INVALID_ARG);
            assert!(detail.contains("join message is not JSON"), "{detail}");
            let (st, detail) = call_join(br#"{"sequence":1,"members":["Org1MSP"],"extra":1}"#);
            assert_eq!(st, FG_STATUS_INVALID_ARG);
            assert!(detail.contains("unknown field \"extra\""), "{detail}");
            let (st, detail) = call_join(
                br#"{"sequence":1,"members":["Org1MSP"],"anchor_peers":[{"org":"Org1MSP","host":"h","port":"x"}]}"#,
            );
            assert_eq!(st, FG_STATUS_INVALID_ARG);
            assert!(detail.contains("anchor_peers[0].port: "), "{detail}");
            let (st, detail) = call_join(br#"{"sequence":1,"members":["Org2MSP"]}"#);
            assert_eq!(st, FG_STATUS_INVALID_ARG);
            assert!(detail.contains("Org1MSP is not a member"), "{detail}");
            assert_eq!(
                with_err(|e| fg_join_channel(std::ptr::null(), 3, b"{}".as_ptr().cast(), 2, e)),
                (
                    FG_STATUS_INVALID_ARG,
                    "channel is NULL or empty".to_string()
                )
            );
            assert_eq!(peers_of(ch).0, FG_STATUS_NOT_FOUND);
            let join = br#"{"sequence":1,"members":["Org1MSP","Org2MSP"],"anchor_peers":[{"org":"Org2MSP","host":"127.0.0.1","port":1}]}"#;
            assert_eq!(call_join(join), (FG_STATUS_OK, String::new()));
            assert_eq!(peers_of(ch), (FG_STATUS_OK, Some("[]".to_string())));
            assert_eq!(
                fg_peers_of_channel(ch.as_ptr().cast(), ch.len(), std::ptr::null_mut()),
                FG_STATUS_INVALID_ARG
            );
            assert_eq!(
                fg_update_ledger_height(ch.as_ptr().cast(), ch.len(), 5, null()),
                FG_STATUS_OK
            );
            let cc = br#"[{"name":"mycc","version":"1.0"}]"#;
            assert_eq!(
                fg_update_chaincodes(
                    ch.as_ptr().cast(),
                    ch.len(),
                    cc.as_ptr().cast(),
                    cc.len(),
                    null()
                ),
                FG_STATUS_OK
            );
            let (st, detail) = with_err(|e| {
                fg_update_chaincodes(ch.as_ptr().cast(), ch.len(), b"[1]".as_ptr().cast(), 3, e)
            });
            assert_eq!(st, FG_STATUS_INVALID_ARG);
            assert!(
                detail.contains("chaincodes[0]: expected a JSON object"),
                "{detail}"
            );
            // Blocks: the host's verify_block refuses empty blocks only; the ledger checks numbers.
            let mut height = 99u64;
            assert_eq!(
                fg_ledger_height(ch.as_ptr().cast(), ch.len(), &mut height),
                FG_STATUS_OK
            );
            assert_eq!(height, 0);
            assert_eq!(
                fg_ledger_height(ch.as_ptr().cast(), ch.len(), std::ptr::null_mut()),
                FG_STATUS_INVALID_ARG
            );
            let block = {
                use prost::Message;
                crate::crypto::block::new_block(0, vec![], vec![b"tx".to_vec()]).encode_to_vec()
            };
            assert_eq!(
                with_err(|e| fg_add_payload(
                    ch.as_ptr().cast(),
                    ch.len(),
                    0,
                    std::ptr::null(),
                    0,
                    e
                )),
                (FG_STATUS_INVALID_ARG, "block is NULL or empty".to_string())
            );
            let (st, detail) = with_err(|e| {
                fg_add_payload(
                    ch.as_ptr().cast(),
                    ch.len(),
                    9999,
                    block.as_ptr(),
                    block.len(),
                    e,
                )
            });
            assert_eq!(st, FG_STATUS_BUSY);
            assert!(
                detail.contains("block 9999 is too far ahead of the ledger height 0"),
                "{detail}"
            );
            // A block the host's verify_block refuses: the reason comes back.
            let bad = REFUSED_BLOCK;
            let (st, detail) = with_err(|e| {
                fg_add_payload(ch.as_ptr().cast(), ch.len(), 0, bad.as_ptr(), bad.len(), e)
            });
            assert_eq!(st, FG_STATUS_CRYPTO, "{detail}");
            assert!(
                detail.contains("block 0 failed verification") && detail.contains("verify_block"),
                "{detail}"
            );
            assert_eq!(
                with_err(|e| fg_add_payload(
                    b"x".as_ptr().cast(),
                    1,
                    0,
                    block.as_ptr(),
                    block.len(),
                    e
                )),
                (
                    FG_STATUS_NOT_FOUND,
                    "channel \"x\" is not joined".to_string()
                )
            );
            assert_eq!(
                fg_add_payload(
                    ch.as_ptr().cast(),
                    ch.len(),
                    0,
                    block.as_ptr(),
                    block.len(),
                    null()
                ),
                FG_STATUS_OK
            );
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while height != 1 && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
                assert_eq!(
                    fg_ledger_height(ch.as_ptr().cast(), ch.len(), &mut height),
                    FG_STATUS_OK
                );
            }
            assert_eq!(height, 1, "block 0 committed to the file ledger");
            // The static leader (the default) has no election to yield.
            let (st, detail) = with_err(|e| {
                crate::ffi::election::fg_yield_leadership(ch.as_ptr().cast(), ch.len(), e)
            });
            assert_eq!(st, FG_STATUS_NOT_FOUND);
            assert!(detail.contains("no leader election"), "{detail}");
            assert_eq!(
                fg_leave_channel(ch.as_ptr().cast(), ch.len(), null()),
                FG_STATUS_OK
            );
            assert_eq!(
                fg_ledger_height(ch.as_ptr().cast(), ch.len(), &mut height),
                FG_STATUS_NOT_FOUND
            );
            assert_eq!(
                fg_leave_channel(ch.as_ptr().cast(), ch.len(), null()),
                FG_STATUS_OK
            );
            assert_eq!(peers_of(ch), (FG_STATUS_OK, Some("[]".to_string())));
            assert_eq!(
                fg_update_ledger_height(ch.as_ptr().cast(), ch.len(), 6, null()),
                FG_STATUS_NOT_FOUND
            );
            let (st, detail) = with_err(|e| fg_leave_channel(b"x".as_ptr().cast(), 1, e));
            assert_eq!(st, FG_STATUS_NOT_FOUND);
            assert!(detail.contains("\"x\""), "{detail}");
            let (st, detail) =
                with_err(|e| crate::ffi::election::fg_yield_leadership(b"x".as_ptr().cast(), 1, e));
            assert_eq!(st, FG_STATUS_NOT_FOUND);
            assert!(detail.contains("not joined"), "{detail}");
        }
    }

    #[test]
    fn control_threads_block_sigpipe() {
        let control = on_control_thread(crate::ffi::sigpipe::blocked_on_this_thread);
        assert_eq!(control, Some(true));
    }

    #[test]
    fn singleton_life_cycle_with_host_callbacks() {
        // SAFETY: locals and static byte strings with their lengths; the tables point to live Hosts.
        unsafe {
            let mut out = fg_bytes {
                ptr: std::ptr::null_mut(),
                len: 0,
            };
            assert_eq!(fg_peers(&mut out), FG_STATUS_NOT_INITIALIZED);
            assert!(out.ptr.is_null(), "out-param untouched on failure");
            crate::ffi::ledger::tests::before_init();
            let before = counters::counters().snapshot();
            assert_eq!(fg_peers(std::ptr::null_mut()), FG_STATUS_INVALID_ARG);
            assert!(counters::counters().snapshot().invalid_args > before.invalid_args);
            assert_eq!(
                fg_init(std::ptr::null(), 0, std::ptr::null(), std::ptr::null_mut()),
                FG_STATUS_INVALID_ARG
            );

            let join = br#"{"sequence":1,"members":["Org1MSP"]}"#;
            assert_eq!(
                crate::ffi::channel::fg_join_channel(
                    b"ch".as_ptr().cast(),
                    2,
                    join.as_ptr().cast(),
                    join.len(),
                    std::ptr::null_mut()
                ),
                FG_STATUS_NOT_INITIALIZED
            );

            let h = new_host();
            let (st, detail) = init_with(&h);
            assert_eq!(st, FG_STATUS_OK, "{detail}");
            channel_calls();
            let ledger_host = crate::ffi::ledger::tests::ledger_calls();
            let me = self_json();
            let mut d = <sha2::Sha256 as sha2::Digest>::new();
            sha2::Digest::update(&mut d, b"Org1MSP");
            sha2::Digest::update(&mut d, h.key.verifying_key().to_bytes());
            assert_eq!(me["pki_id"], hex::encode(sha2::Digest::finalize(d)));
            assert_eq!(me["org"], "Org1MSP");

            // A second init is refused and releases the table it was given, not the running one.
            let other = new_host();
            assert_eq!(init_with(&other).0, FG_STATUS_ALREADY_INITIALIZED);
            assert_eq!(other.releases.load(Ordering::SeqCst), 1);
            assert_eq!(h.releases.load(Ordering::SeqCst), 0);

            assert_eq!(fg_shutdown(), FG_STATUS_OK);
            assert_eq!(h.releases.load(Ordering::SeqCst), 1);
            assert_eq!(
                ledger_host.releases.load(Ordering::SeqCst),
                1,
                "fg_shutdown releases the ledger table"
            );
            let signs = h.signs.load(Ordering::SeqCst);
            assert_eq!(fg_shutdown(), FG_STATUS_OK);
            assert_eq!(h.releases.load(Ordering::SeqCst), 1, "release exactly once");
            std::thread::sleep(std::time::Duration::from_millis(200));
            assert_eq!(
                h.signs.load(Ordering::SeqCst),
                signs,
                "no callback after fg_shutdown"
            );

            // Init and shutdown from inside a host's own Tokio runtime.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let h2 = new_host();
            rt.block_on(async {
                let (st, detail) = init_with(&h2);
                assert_eq!(st, FG_STATUS_OK, "{detail}");
                assert_eq!(fg_shutdown(), FG_STATUS_OK);
            });
            assert_eq!(h2.releases.load(Ordering::SeqCst), 1);
        }
    }
}

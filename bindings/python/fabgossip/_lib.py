"""Loads libfabgossip and declares the C signature of every exported function.

The library is found, in this order, at:

1. ``$FABGOSSIP_LIB``;
2. the repository's own build, ``<repo>/target/release`` then ``<repo>/target/debug``, when this
   package is imported from a checkout that has one (so a checkout's tests never pick up an
   older installed copy);
3. an installed library: pkg-config's ``libdir`` for ``fabgossip`` (``PKG_CONFIG_PATH`` names
   a non-standard prefix), then the loader's search path (``ctypes.util.find_library``:
   ldconfig's cache, ``LD_LIBRARY_PATH``).
"""

import ctypes
import ctypes.util
import os
import subprocess
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_int32, c_int64, c_size_t,
                    c_uint32, c_uint64, c_void_p)
from pathlib import Path

fg_status = c_uint32


class fg_bytes(Structure):
    """Library-owned bytes; release with ``fg_bytes_free``."""
    _fields_ = [("ptr", c_void_p), ("len", c_size_t)]


# Callback types, as in include/fabgossip.h. Pointer arguments are c_void_p so that ctypes
# does not copy or decode them; the adapters read them with ctypes.string_at.
LOG_FN = CFUNCTYPE(None, c_void_p, c_int32, c_void_p, c_size_t, c_void_p, c_size_t)
LEADERSHIP_FN = CFUNCTYPE(None, c_void_p, c_void_p, c_size_t, c_int32)
RELEASE_FN = CFUNCTYPE(None, c_void_p)
SELF_IDENTITY_FN = CFUNCTYPE(fg_status, c_void_p, c_void_p, c_size_t, POINTER(c_size_t))
SIGN_FN = CFUNCTYPE(fg_status, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t, POINTER(c_size_t))
VERIFY_FN = CFUNCTYPE(fg_status, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t, c_void_p, c_size_t)
VERIFY_BY_CHANNEL_FN = CFUNCTYPE(fg_status, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t,
                                 c_void_p, c_size_t, c_void_p, c_size_t)
VERIFY_BLOCK_FN = CFUNCTYPE(fg_status, c_void_p, c_void_p, c_size_t, c_uint64, c_void_p, c_size_t)
VALIDATE_IDENTITY_FN = CFUNCTYPE(fg_status, c_void_p, c_void_p, c_size_t)
IDENTITY_QUERY_FN = CFUNCTYPE(fg_status, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t,
                              POINTER(c_size_t))
EXPIRATION_FN = CFUNCTYPE(fg_status, c_void_p, c_void_p, c_size_t, POINTER(c_int64))


class fg_slice(Structure):
    """A borrowed byte string (private data of a committed block)."""
    _fields_ = [("ptr", c_void_p), ("len", c_size_t)]


LEDGER_HEIGHT_FN = CFUNCTYPE(fg_status, c_void_p, c_void_p, c_size_t, POINTER(c_uint64))
LEDGER_COMMIT_FN = CFUNCTYPE(fg_status, c_void_p, c_void_p, c_size_t, c_uint64, c_void_p, c_size_t,
                             POINTER(fg_slice), c_size_t)
LEDGER_GET_BLOCK_FN = CFUNCTYPE(fg_status, c_void_p, c_void_p, c_size_t, c_uint64, c_void_p,
                                c_size_t, POINTER(c_size_t))


class fg_ledger_callbacks(Structure):
    _fields_ = [
        ("user_data", c_void_p),
        ("release", RELEASE_FN),
        ("height", LEDGER_HEIGHT_FN),
        ("commit", LEDGER_COMMIT_FN),
        ("get_block", LEDGER_GET_BLOCK_FN),
    ]


class fg_callbacks(Structure):
    _fields_ = [
        ("user_data", c_void_p),
        ("release", RELEASE_FN),
        ("self_identity", c_void_p),
        ("self_identity_len", c_size_t),
        ("self_identity_fn", SELF_IDENTITY_FN),
        ("sign", SIGN_FN),
        ("verify", VERIFY_FN),
        ("verify_by_channel", VERIFY_BY_CHANNEL_FN),
        ("verify_block", VERIFY_BLOCK_FN),
        ("validate_identity", VALIDATE_IDENTITY_FN),
        ("pki_id_of", IDENTITY_QUERY_FN),
        ("org_of_identity", IDENTITY_QUERY_FN),
        ("expiration", EXPIRATION_FN),
    ]


def _pkg_config_libdir():
    """The installed library under pkg-config's libdir, or None."""
    try:
        out = subprocess.run(["pkg-config", "--variable=libdir", "fabgossip"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    libdir = out.stdout.strip()
    if out.returncode != 0 or not libdir:
        return None
    candidate = Path(libdir) / "libfabgossip.so"
    return str(candidate) if candidate.exists() else None


def _find():
    env = os.environ.get("FABGOSSIP_LIB")
    if env:
        return env
    repo = Path(__file__).resolve().parents[3]
    for profile in ("release", "debug"):
        candidate = repo / "target" / profile / "libfabgossip.so"
        if candidate.exists():
            return str(candidate)
    installed = _pkg_config_libdir() or ctypes.util.find_library("fabgossip")
    if installed:
        return installed
    raise OSError(f"libfabgossip.so not found: not built under {repo}/target, not known to "
                  "pkg-config, not on the loader's search path; build it or set FABGOSSIP_LIB")


PATH = _find()
# CDLL releases the GIL during each call, so library threads can run Python callbacks
# while a Python thread waits in fg_shutdown.
lib = ctypes.CDLL(PATH)

_SIGNATURES = {
    "fg_version": ([], c_char_p),
    "fg_status_str": ([fg_status], c_char_p),
    "fg_bytes_free": ([POINTER(fg_bytes)], None),
    "fg_init": ([c_void_p, c_size_t, POINTER(fg_callbacks), POINTER(fg_bytes)], fg_status),
    "fg_init_from_file": ([c_void_p, c_size_t, POINTER(fg_callbacks), POINTER(fg_bytes)],
                          fg_status),
    "fg_shutdown": ([], fg_status),
    "fg_peers": ([POINTER(fg_bytes)], fg_status),
    "fg_self": ([POINTER(fg_bytes)], fg_status),
    "fg_set_log_callback": ([LOG_FN, c_void_p, c_int32], fg_status),
    "fg_join_channel": ([c_void_p, c_size_t, c_void_p, c_size_t, POINTER(fg_bytes)], fg_status),
    "fg_leave_channel": ([c_void_p, c_size_t, POINTER(fg_bytes)], fg_status),
    "fg_update_ledger_height": ([c_void_p, c_size_t, c_uint64, POINTER(fg_bytes)], fg_status),
    "fg_update_chaincodes": ([c_void_p, c_size_t, c_void_p, c_size_t, POINTER(fg_bytes)],
                             fg_status),
    "fg_peers_of_channel": ([c_void_p, c_size_t, POINTER(fg_bytes)], fg_status),
    "fg_add_payload": ([c_void_p, c_size_t, c_uint64, c_void_p, c_size_t, POINTER(fg_bytes)],
                       fg_status),
    "fg_ledger_height": ([c_void_p, c_size_t, POINTER(c_uint64)], fg_status),
    "fg_distribute_private_data": ([c_void_p, c_size_t, c_void_p, c_size_t, c_void_p, c_size_t,
                                    c_uint64, POINTER(fg_bytes), POINTER(fg_bytes)], fg_status),
    "fg_set_collection_config": ([c_void_p, c_size_t, c_void_p, c_size_t, c_void_p, c_size_t,
                                  POINTER(fg_bytes)], fg_status),
    "fg_explain_private_data": ([c_void_p, c_size_t, c_void_p, c_size_t, c_void_p, c_size_t,
                                 c_void_p, c_size_t, c_uint64, POINTER(fg_bytes),
                                 POINTER(fg_bytes)], fg_status),
    "fg_set_ledger_callbacks": ([POINTER(fg_ledger_callbacks)], fg_status),
    "fg_is_leader": ([c_void_p, c_size_t, POINTER(c_int32)], fg_status),
    "fg_set_leadership_callback": ([LEADERSHIP_FN, c_void_p], fg_status),
    "fg_yield_leadership": ([c_void_p, c_size_t, POINTER(fg_bytes)], fg_status),
    "fg_metrics": ([POINTER(fg_bytes)], fg_status),
    "fg_explain_peer": ([c_void_p, c_size_t, POINTER(fg_bytes)], fg_status),
}
for _name, (_args, _res) in _SIGNATURES.items():
    _fn = getattr(lib, _name)
    _fn.argtypes = _args
    _fn.restype = _res


def status_str(status):
    """The static name of a status, e.g. ``"FG_STATUS_CONFIG"``."""
    return lib.fg_status_str(status).decode()


def take_bytes(b):
    """Copies an fg_bytes out and frees it."""
    try:
        return ctypes.string_at(b.ptr, b.len) if b.ptr else b""
    finally:
        lib.fg_bytes_free(ctypes.byref(b))

"""Host crypto callbacks written in Python, adapted to the ``fg_callbacks`` table.

Subclass :class:`HostCrypto` and pass an instance to ``fabgossip.init(..., crypto=obj)``.
Every method runs on a library worker thread (several may run at once) and must be quick.
A method that raises, or returns a false value where a check is expected, makes the
library see a refusal (``FG_STATUS_CALLBACK_FAILED`` / ``FG_STATUS_CRYPTO``), never a crash.
The last exception raised inside a callback is kept in ``errors`` for inspection.
"""

import ctypes
import threading

from . import _lib
from .errors import BUFFER_TOO_SMALL, CALLBACK_FAILED, CRYPTO, NOT_FOUND, OK


class HostCrypto:
    """Override the methods; ``self_identity`` must be the serialized identity bytes."""

    self_identity = b""

    def sign(self, msg):
        raise NotImplementedError

    def verify(self, identity, signature, msg):
        raise NotImplementedError

    def verify_by_channel(self, channel, identity, signature, msg):
        return self.verify(identity, signature, msg)

    def verify_block(self, channel, seq, block):
        raise NotImplementedError

    def validate_identity(self, identity):
        raise NotImplementedError

    def org_of_identity(self, identity):
        raise NotImplementedError

    # When true the pki_id_of slot stays NULL and the library computes
    # SHA-256(mspid || id_bytes); set it to False to have pki_id_of called instead.
    use_default_pki_id = True

    def pki_id_of(self, identity):
        raise NotImplementedError

    def expiration(self, identity):
        """Seconds since the epoch, or None when the identity never expires."""
        return None


def _read(ptr, n):
    return ctypes.string_at(ptr, n) if n else b""


def _write_out(data, out, cap, out_len):
    out_len[0] = len(data)
    if len(data) > cap:
        return BUFFER_TOO_SMALL
    ctypes.memmove(out, data, len(data))
    return OK


class CallbackTable:
    """Owns the ctypes function objects for one ``fg_init``; keep it alive until release."""

    def __init__(self, impl):
        self.impl = impl
        self.errors = []
        self.release_count = 0
        self.released = threading.Event()
        self._identity = ctypes.create_string_buffer(bytes(impl.self_identity), len(impl.self_identity))

        def guard(fn, refusal):
            def wrapper(*args):
                try:
                    return fn(*args)
                except BaseException as e:  # a Python exception must not unwind into C
                    self.errors.append(e)
                    return refusal
            return wrapper

        def yes_no(result):
            return OK if result else CRYPTO

        def sign(_ud, msg, msg_len, out, cap, out_len):
            return _write_out(bytes(impl.sign(_read(msg, msg_len))), out, cap, out_len)

        def verify(_ud, ident, il, sig, sl, msg, ml):
            return yes_no(impl.verify(_read(ident, il), _read(sig, sl), _read(msg, ml)))

        def verify_by_channel(_ud, ch, cl, ident, il, sig, sl, msg, ml):
            return yes_no(impl.verify_by_channel(_read(ch, cl).decode(), _read(ident, il),
                                                 _read(sig, sl), _read(msg, ml)))

        def verify_block(_ud, ch, cl, seq, block, bl):
            return yes_no(impl.verify_block(_read(ch, cl).decode(), seq, _read(block, bl)))

        def validate_identity(_ud, ident, il):
            return yes_no(impl.validate_identity(_read(ident, il)))

        def pki_id_of(_ud, ident, il, out, cap, out_len):
            return _write_out(bytes(impl.pki_id_of(_read(ident, il))), out, cap, out_len)

        def org_of_identity(_ud, ident, il, out, cap, out_len):
            return _write_out(impl.org_of_identity(_read(ident, il)).encode(), out, cap, out_len)

        def expiration(_ud, ident, il, out):
            at = impl.expiration(_read(ident, il))
            if at is None:
                return NOT_FOUND
            out[0] = int(at)
            return OK

        def release(_ud):
            self.release_count += 1
            self.released.set()

        # The ctypes function objects must outlive every call the library makes.
        self._fns = dict(
            release=_lib.RELEASE_FN(release),
            sign=_lib.SIGN_FN(guard(sign, CALLBACK_FAILED)),
            verify=_lib.VERIFY_FN(guard(verify, CALLBACK_FAILED)),
            verify_by_channel=_lib.VERIFY_BY_CHANNEL_FN(guard(verify_by_channel, CALLBACK_FAILED)),
            verify_block=_lib.VERIFY_BLOCK_FN(guard(verify_block, CALLBACK_FAILED)),
            validate_identity=_lib.VALIDATE_IDENTITY_FN(guard(validate_identity, CALLBACK_FAILED)),
            org_of_identity=_lib.IDENTITY_QUERY_FN(guard(org_of_identity, CALLBACK_FAILED)),
            expiration=_lib.EXPIRATION_FN(guard(expiration, CALLBACK_FAILED)),
        )
        if not impl.use_default_pki_id:
            self._fns["pki_id_of"] = _lib.IDENTITY_QUERY_FN(guard(pki_id_of, CALLBACK_FAILED))
        self.table = _lib.fg_callbacks(
            user_data=None,
            self_identity=ctypes.cast(self._identity, ctypes.c_void_p),
            self_identity_len=len(impl.self_identity),
            **self._fns,
        )


class HostLedger:
    """A ledger kept by the host: pass an instance to ``fabgossip.set_ledger(obj)`` before
    joining channels. Override ``height``, ``commit`` and ``get_block``.

    ``commit`` runs on a library thread, one call at a time per channel and in block order
    (``seq`` is always the current height); it may block (disk I/O). ``height`` and
    ``get_block`` may run at the same time on other threads. Raising in ``commit`` (or any
    method) is an error status (``FG_STATUS_CALLBACK_FAILED``, or the ``status`` of a raised
    :class:`~fabgossip.errors.FabgossipError`): the library logs it and offers the same
    block again later; it never skips it.
    """

    def height(self, channel):
        """Number of blocks held for ``channel`` (the next block's number)."""
        raise NotImplementedError

    def commit(self, channel, seq, block, private_data):
        """Appends block ``seq`` (bytes) with ``private_data`` (list of bytes)."""
        raise NotImplementedError

    def get_block(self, channel, seq):
        """Committed block ``seq`` as bytes, or None when not held."""
        raise NotImplementedError


class MemoryLedger(HostLedger):
    """A thread-safe in-memory :class:`HostLedger`: per channel, a list of blocks."""

    def __init__(self):
        self._lock = threading.Lock()
        self.blocks = {}  # channel -> [(block, private_data)]

    def preload(self, channel, block):
        """Appends a block as the host's own (e.g. a genesis block it already has)."""
        with self._lock:
            self.blocks.setdefault(channel, []).append((bytes(block), []))

    def height(self, channel):
        with self._lock:
            return len(self.blocks.get(channel, ()))

    def commit(self, channel, seq, block, private_data):
        with self._lock:
            chain = self.blocks.setdefault(channel, [])
            if seq != len(chain):
                raise ValueError(f"block {seq} offered at height {len(chain)}")
            chain.append((block, private_data))

    def get_block(self, channel, seq):
        with self._lock:
            chain = self.blocks.get(channel, ())
            return chain[seq][0] if seq < len(chain) else None


class LedgerTable:
    """Owns the ctypes function objects for one ``fg_set_ledger_callbacks``; keep it alive
    until ``released`` is set."""

    def __init__(self, impl):
        from .errors import FabgossipError

        self.impl = impl
        self.errors = []
        self.release_count = 0
        self.released = threading.Event()

        def guard(fn):
            def wrapper(*args):
                try:
                    return fn(*args)
                except BaseException as e:  # a Python exception must not unwind into C
                    self.errors.append(e)
                    if isinstance(e, FabgossipError) and e.status != OK:
                        return e.status
                    return CALLBACK_FAILED
            return wrapper

        def height(_ud, ch, cl, out):
            h = int(impl.height(_read(ch, cl).decode()))
            if not 0 <= h < 1 << 64:
                raise ValueError(f"ledger height {h} is out of range")
            out[0] = h
            return OK

        def commit(_ud, ch, cl, seq, block, bl, pvt, count):
            private_data = [_read(pvt[i].ptr, pvt[i].len) for i in range(count)]
            impl.commit(_read(ch, cl).decode(), seq, _read(block, bl), private_data)
            return OK

        def get_block(_ud, ch, cl, seq, out, cap, out_len):
            data = impl.get_block(_read(ch, cl).decode(), seq)
            if data is None:
                return NOT_FOUND
            return _write_out(bytes(data), out, cap, out_len)

        def release(_ud):
            self.release_count += 1
            self.released.set()

        self._fns = dict(
            release=_lib.RELEASE_FN(release),
            height=_lib.LEDGER_HEIGHT_FN(guard(height)),
            commit=_lib.LEDGER_COMMIT_FN(guard(commit)),
            get_block=_lib.LEDGER_GET_BLOCK_FN(guard(get_block)),
        )
        self.table = _lib.fg_ledger_callbacks(user_data=None, **self._fns)

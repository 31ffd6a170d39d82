"""Status codes of the C ABI (``fg_status``) and the exceptions they map to."""

OK = 0
INVALID_ARG = 1
NOT_INITIALIZED = 2
ALREADY_INITIALIZED = 3
NOT_FOUND = 4
TIMEOUT = 5
SHUTDOWN = 6
REENTRANT = 7
PANIC = 8
CONFIG = 9
IO = 10
CRYPTO = 11
INTERNAL = 12
BUFFER_TOO_SMALL = 13
CALLBACK_FAILED = 14
BUSY = 15
INCOMPLETE = 16


class FabgossipError(Exception):
    """A non-OK status from the library. ``status`` is the number, ``detail`` the text the
    library gave (may be empty)."""

    def __init__(self, status, detail=""):
        self.status = status
        self.detail = detail
        from . import _lib  # late import: errors.py must load without the library

        name = _lib.status_str(status)
        super().__init__(f"{name}: {detail}" if detail else name)


class InvalidArgError(FabgossipError):
    pass


class NotInitializedError(FabgossipError):
    pass


class AlreadyInitializedError(FabgossipError):
    pass


class NotFoundError(FabgossipError):
    pass


class FgTimeoutError(FabgossipError):
    pass


class ShutdownError(FabgossipError):
    pass


class ReentrantError(FabgossipError):
    pass


class PanicError(FabgossipError):
    pass


class ConfigError(FabgossipError):
    pass


class FgIOError(FabgossipError):
    pass


class CryptoError(FabgossipError):
    pass


class InternalError(FabgossipError):
    pass


class BufferTooSmallError(FabgossipError):
    pass


class CallbackFailedError(FabgossipError):
    pass


class BusyError(FabgossipError):
    """The library cannot take this now (a block too far ahead); offer it again later."""


class IncompleteError(FabgossipError):
    """The call ran but fell short of its goal (a private data collection did not get
    ``requiredPeerCount`` acks). ``report`` holds what was done, when the call gave one."""

    def __init__(self, status, detail="", report=None):
        super().__init__(status, detail)
        self.report = report


_BY_STATUS = {
    INVALID_ARG: InvalidArgError,
    NOT_INITIALIZED: NotInitializedError,
    ALREADY_INITIALIZED: AlreadyInitializedError,
    NOT_FOUND: NotFoundError,
    TIMEOUT: FgTimeoutError,
    SHUTDOWN: ShutdownError,
    REENTRANT: ReentrantError,
    PANIC: PanicError,
    CONFIG: ConfigError,
    IO: FgIOError,
    CRYPTO: CryptoError,
    INTERNAL: InternalError,
    BUFFER_TOO_SMALL: BufferTooSmallError,
    CALLBACK_FAILED: CallbackFailedError,
    BUSY: BusyError,
    INCOMPLETE: IncompleteError,
}


def error_for(status, detail=""):
    """The exception for a non-OK ``status``."""
    return _BY_STATUS.get(status, FabgossipError)(status, detail)


def check(status, detail=""):
    """Raises the matching exception unless ``status`` is OK."""
    if status != OK:
        raise error_for(status, detail)

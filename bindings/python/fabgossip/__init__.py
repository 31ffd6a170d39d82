"""Python binding of libfabgossip (Hyperledger Fabric gossip) over its C ABI.

    import fabgossip
    fabgossip.init(config_text, log=lambda level, target, msg: print(level, target, msg))
    print(fabgossip.self_info(), fabgossip.peers())
    fabgossip.join_channel("mychannel", {"sequence": 1, "members": ["Org1MSP"]})
    fabgossip.update_ledger_height("mychannel", 10)
    print(fabgossip.is_leader("mychannel"))
    print(fabgossip.peers_of_channel("mychannel"))
    fabgossip.shutdown()
"""

import ctypes
import json
import os

from . import _lib
from .errors import (BusyError, CryptoError, FabgossipError, IncompleteError,  # noqa: F401
                     InvalidArgError, NotFoundError, NotInitializedError, check, error_for)
from .host import CallbackTable, HostCrypto, HostLedger, LedgerTable, MemoryLedger  # noqa: F401

LOG_OFF, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE = range(6)

# Objects the library holds pointers to; kept here so the garbage collector leaves them.
_log_fn = None
_leadership_fn = None
_callbacks = None
_ledger_table = None


def version():
    """The library version, e.g. ``"0.2.0"``."""
    return _lib.lib.fg_version().decode()


def set_log(log, max_level=LOG_DEBUG):
    """Routes library log lines to ``log(level, target, msg)``; ``None`` turns logging off.
    Exceptions raised by ``log`` are swallowed (a log line is not worth a crash)."""
    global _log_fn
    if log is None:
        check(_lib.lib.fg_set_log_callback(_lib.LOG_FN(), None, LOG_OFF))
        _log_fn = None
        return

    def trampoline(_ud, level, target, tlen, msg, mlen):
        try:
            log(level, ctypes.string_at(target, tlen).decode("utf-8", "replace"),
                ctypes.string_at(msg, mlen).decode("utf-8", "replace"))
        except BaseException:
            pass

    fn = _lib.LOG_FN(trampoline)
    check(_lib.lib.fg_set_log_callback(fn, None, max_level))
    # Keep the new trampoline alive; the old one is no longer called once the swap returned.
    _log_fn = fn


def init(config_text, log=None, crypto=None, log_level=LOG_DEBUG):
    """Starts the gossip service. ``config_text``: YAML or JSON (str or bytes).
    ``log``: optional ``log(level, target, msg)``. ``crypto``: optional :class:`HostCrypto`;
    without it the built-in Ed25519 identities are used. Raises :class:`FabgossipError`."""
    data = config_text.encode() if isinstance(config_text, str) else bytes(config_text)
    return _init(_lib.lib.fg_init, data, log, crypto, log_level)


def init_file(path, log=None, crypto=None, log_level=LOG_DEBUG):
    """Like :func:`init` with the config read from the file ``path`` (``fg_init_from_file``):
    relative paths in it resolve against the file's folder, as Fabric resolves those of its
    ``core.yaml``."""
    return _init(_lib.lib.fg_init_from_file, os.fsencode(path), log, crypto, log_level)


def _init(call, data, log, crypto, log_level):
    global _callbacks
    if log is not None:
        set_log(log, log_level)
    buf = ctypes.create_string_buffer(data, len(data))
    err = _lib.fg_bytes()
    table = CallbackTable(crypto) if crypto is not None else None
    # No Python lock around the call: a callback running on a library thread may need the
    # GIL-free path back into Python while this thread waits inside the library.
    status = call(ctypes.cast(buf, ctypes.c_void_p) if data else None, len(data),
                  ctypes.byref(table.table) if table else None, ctypes.byref(err))
    if status != 0:
        detail = _lib.take_bytes(err).decode("utf-8", "replace")
        raise error_for(status, detail)
    _callbacks = table
    return table


def shutdown():
    """Stops the service; harmless when it is not running."""
    global _callbacks, _ledger_table
    check(_lib.lib.fg_shutdown())
    # The library released the tables; now the ctypes objects may go.
    _callbacks = None
    _ledger_table = None


def set_ledger(ledger):
    """Makes ``ledger`` (a :class:`HostLedger`) the ledger of every channel joined from now
    on; ``None`` goes back to the embedded file ledger. Call after :func:`init` while no
    channel is joined (else :class:`BusyError`). Returns the :class:`LedgerTable` (its
    ``errors`` list keeps what the callbacks raised)."""
    global _ledger_table
    table = LedgerTable(ledger) if ledger is not None else None
    status = _lib.lib.fg_set_ledger_callbacks(ctypes.byref(table.table) if table else None)
    # On failure the library released the new table already; the old one stays in use.
    check(status)
    # The table given before was released by the call: its ctypes objects may go.
    _ledger_table = table
    return table


def _json_call(fn):
    out = _lib.fg_bytes()
    check(fn(ctypes.byref(out)))
    return json.loads(_lib.take_bytes(out))


def peers():
    """The known peers (self excluded): list of dicts with pki_id, endpoint,
    internal_endpoint, org, state."""
    return _json_call(_lib.lib.fg_peers)


def self_info():
    """This peer: dict with pki_id, endpoint (as bound), internal_endpoint, org, state."""
    return _json_call(_lib.lib.fg_self)


def metrics():
    """Every metric of the running service as Prometheus text exposition (str, format
    0.0.4), e.g. for ``prometheus_client.parser.text_string_to_metric_families``."""
    out = _lib.fg_bytes()
    check(_lib.lib.fg_metrics(ctypes.byref(out)))
    return _lib.take_bytes(out).decode()


def explain_peer(query):
    """Why the peer named by ``query`` (endpoint ``host:port`` or PKI-ID hex) is or is not
    in the view: dict with ``reason`` (``alive``, ``never_dialed``, ``dial_failed``,
    ``handshake_failed``, ``other_org_no_external_endpoint``, ``identity_expired``,
    ``dead``, ``purged``, ``handshaken_not_in_view``, ``unknown``), ``detail``,
    ``last_contact`` and what membership knows. Raises :class:`InvalidArgError` for a
    query that is neither."""
    q, q_len = _arg(query)
    return _json_call(lambda out: _lib.lib.fg_explain_peer(q, q_len, out))


def _detail_call(fn, *args):
    """Calls ``fn(*args, err_out)`` and raises the status's exception with the library's
    detail (why the call failed) when it is not OK."""
    err = _lib.fg_bytes()
    status = fn(*args, ctypes.byref(err))
    if status != 0:
        raise error_for(status, _lib.take_bytes(err).decode("utf-8", "replace"))


def _arg(value):
    """(buffer, length) for a str/bytes argument; the buffer must outlive the call."""
    data = value.encode() if isinstance(value, str) else bytes(value)
    return ctypes.create_string_buffer(data, len(data)), len(data)


def join_channel(channel, join):
    """Joins ``channel`` (or reconfigures it with a newer sequence). ``join``: the channel's
    genesis block or latest config block (bytes of a marshaled ``common.Block``, as
    ``peer channel join -b`` takes it: orgs, anchor peers and orderers come from its config,
    block 0 is committed without an orderer signature check, later config blocks reconfigure
    the channel), or a dict or JSON text ``{"sequence": N, "members": ["Org1MSP", ...],
    "anchor_peers": [{"org", "host", "port"}, ...], "orderers": [{"endpoint": "host:port",
    "tls_root_cert": PEM, "public_key": hex}, ...]}`` (anchor_peers, orderers and their
    optional keys may be left out). A static leader pulls blocks from the orderers. A refused
    call raises
    :class:`FabgossipError` whose ``detail`` says why (for a bad join message, the field
    at fault); the other channel calls do the same."""
    ch, ch_len = _arg(channel)
    js, js_len = _arg(join if isinstance(join, (str, bytes)) else json.dumps(join))
    _detail_call(_lib.lib.fg_join_channel, ch, ch_len, js, js_len)


def leave_channel(channel):
    """Leaves ``channel``: the others see it gone, it sees no channel peers."""
    ch, ch_len = _arg(channel)
    _detail_call(_lib.lib.fg_leave_channel, ch, ch_len)


def update_ledger_height(channel, height):
    """Publishes this peer's ledger height on ``channel``."""
    ch, ch_len = _arg(channel)
    _detail_call(_lib.lib.fg_update_ledger_height, ch, ch_len, height)


def update_chaincodes(channel, chaincodes):
    """Publishes the chaincodes of ``channel``: list of ``{"name", "version"}``."""
    ch, ch_len = _arg(channel)
    js, js_len = _arg(json.dumps(chaincodes))
    _detail_call(_lib.lib.fg_update_chaincodes, ch, ch_len, js, js_len)


def peers_of_channel(channel):
    """The alive peers of a joined channel (self excluded): list of dicts with pki_id,
    endpoint, internal_endpoint, org, ledger_height, chaincodes, left_channel. Raises
    :class:`NotFoundError` for a channel never joined."""
    ch, ch_len = _arg(channel)
    return _json_call(lambda out: _lib.lib.fg_peers_of_channel(ch, ch_len, out))


def add_payload(channel, seq, block):
    """Adds block ``seq`` (a marshaled ``common.Block``, bytes) of ``channel``: verified,
    committed in order to the channel's ledger, gossiped to the org. Raises
    :class:`CryptoError` for a block failing verification and :class:`BusyError` for one
    too far above the ledger height (offer it again later)."""
    ch, ch_len = _arg(channel)
    data, data_len = _arg(block)
    _detail_call(_lib.lib.fg_add_payload, ch, ch_len, seq, data, data_len)


def distribute_private_data(channel, tx_id, pvt_data, block_height):
    """Pushes an endorsed transaction's private data (``pvt_data``: bytes of a marshaled
    ``transientstore.TxPvtReadWriteSetWithConfigInfo``) to eligible peers of ``channel`` and
    waits for their acks (up to ``peer.gossip.pvtData.pushAckTimeout``). Returns the report:
    dict with ``channel``, ``tx_id``, ``required_met`` and ``collections`` (per collection:
    ``namespace``, ``collection``, ``required_peer_count``, ``max_peer_count``, ``acked`` and
    ``failed`` peers with ``pki_id``, ``endpoint``, ``org``, ``ack_required``, ``result``,
    ``error``; ``required_met``; ``error`` when it could not be planned). Raises
    :class:`IncompleteError` (its ``report`` attribute holds the report) when a collection
    did not get ``requiredPeerCount`` acks."""
    ch, ch_len = _arg(channel)
    tx, tx_len = _arg(tx_id)
    data, data_len = _arg(pvt_data)
    out = _lib.fg_bytes()
    err = _lib.fg_bytes()
    status = _lib.lib.fg_distribute_private_data(ch, ch_len, tx, tx_len, data, data_len,
                                                 block_height, ctypes.byref(out),
                                                 ctypes.byref(err))
    raw = _lib.take_bytes(out)
    report = json.loads(raw) if raw else None
    if status != 0:
        e = error_for(status, _lib.take_bytes(err).decode("utf-8", "replace"))
        if isinstance(e, IncompleteError):
            e.report = report
        raise e
    return report


def set_collection_config(channel, namespace, package):
    """Sets the collection configs of chaincode ``namespace`` in ``channel``: ``package`` is
    bytes of a marshaled ``protos.CollectionConfigPackage`` (as a Fabric peer reads it from
    its ledger); empty bytes remove them. They decide the namespace's explicit collections
    for private data pushed to this peer and asked of it, over the config a push carries.
    Raises :class:`InvalidArgError` for a package that does not decode or holds an invalid
    config, :class:`NotFoundError` for a channel not joined."""
    ch, ch_len = _arg(channel)
    ns, ns_len = _arg(namespace)
    pkg, pkg_len = _arg(package)
    _detail_call(_lib.lib.fg_set_collection_config, ch, ch_len, ns, ns_len, pkg, pkg_len)


def explain_private_data(channel, namespace, collection, query, block_height=0):
    """Why the peer ``query`` (``host:port`` or a PKI-ID in hex) is or is not a target for
    the private data of ``namespace``/``collection`` in ``channel``: dict with ``reason``
    (``eligible``, ``is_self``, ``not_in_channel``, ``unknown_collection``,
    ``identity_unknown``, ``not_eligible``, ``no_endpoint``, ``below_block_height``),
    ``detail``, ``pki_id``, ``org``, ``endpoint``, ``ledger_height``, ``member_orgs``,
    ``required_peer_count``, ``max_peer_count``, ``membership``. ``block_height``: 0, or a
    height the peer must have reached."""
    ch, ch_len = _arg(channel)
    ns, ns_len = _arg(namespace)
    coll, coll_len = _arg(collection)
    q, q_len = _arg(query)
    out = _lib.fg_bytes()
    _detail_call(_lib.lib.fg_explain_private_data, ch, ch_len, ns, ns_len, coll, coll_len,
                 q, q_len, block_height, ctypes.byref(out))
    return json.loads(_lib.take_bytes(out))


def ledger_height(channel):
    """The number of blocks committed to ``channel``'s ledger."""
    ch, ch_len = _arg(channel)
    out = ctypes.c_uint64()
    check(_lib.lib.fg_ledger_height(ch, ch_len, ctypes.byref(out)))
    return out.value


def is_leader(channel):
    """Whether this peer leads ``channel`` (elected, or a static ``orgLeader``). Never blocks.
    Raises :class:`NotFoundError` for a channel not joined (or left)."""
    ch, ch_len = _arg(channel)
    out = ctypes.c_int32()
    check(_lib.lib.fg_is_leader(ch, ch_len, ctypes.byref(out)))
    return out.value != 0


def yield_leadership(channel):
    """Gives up leadership of ``channel`` (Fabric's ``Yield``): this peer steps down and stays
    out of the election for a while, so another peer of the org takes over; the leadership
    callback reports the loss. Nothing happens when this peer does not lead. Raises
    :class:`NotFoundError` for a channel not joined or without leader election (static
    ``orgLeader``)."""
    ch, ch_len = _arg(channel)
    _detail_call(_lib.lib.fg_yield_leadership, ch, ch_len)


def set_leadership_callback(callback):
    """Calls ``callback(channel, is_leader)`` at every later leadership change, in order, from
    the library's leadership thread (gossip does not wait for it; later changes do); ``None``
    removes it. Exceptions raised by ``callback`` are swallowed. Library calls made inside it
    raise :class:`FabgossipError` (``FG_STATUS_REENTRANT``)."""
    global _leadership_fn
    if callback is None:
        check(_lib.lib.fg_set_leadership_callback(_lib.LEADERSHIP_FN(), None))
        _leadership_fn = None
        return

    def trampoline(_ud, ch, ch_len, leader):
        try:
            callback(ctypes.string_at(ch, ch_len).decode("utf-8", "replace"), leader != 0)
        except BaseException:
            pass

    fn = _lib.LEADERSHIP_FN(trampoline)
    check(_lib.lib.fg_set_leadership_callback(fn, None))
    # The old trampoline is no longer called once the swap returned.
    _leadership_fn = fn

"""Sample blocks for demos and tests: marshaled `common.Block`s encoded by hand (no protobuf
dependency): header with Fabric's data hash (SHA-256 over the data entries end to end), the five metadata slots
and a TRANSACTIONS_FILTER marking every transaction valid."""

import hashlib


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _bytes_field(field, data):
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _header_der(number, previous_hash, data_hash):
    """The DER SEQUENCE{INTEGER number, OCTET STRING previous, OCTET STRING data hash}."""
    def length(n):
        if n < 0x80:
            return bytes([n])
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return bytes([0x80 | len(b)]) + b

    num = number.to_bytes(max(1, (number.bit_length() + 8) // 8), "big")
    body = b"\x02" + length(len(num)) + num
    body += b"\x04" + length(len(previous_hash)) + previous_hash
    body += b"\x04" + length(len(data_hash)) + data_hash
    return b"\x30" + length(len(body)) + body


def block(number, previous_hash, txs):
    """(block bytes, header hash for the next block's previous_hash)."""
    data_hash = hashlib.sha256(b"".join(txs)).digest()
    header = b""
    if number:
        header += _varint(1 << 3 | 0) + _varint(number)
    if previous_hash:
        header += _bytes_field(2, previous_hash)
    header += _bytes_field(3, data_hash)
    data = b"".join(_bytes_field(1, t) for t in txs)
    slots = [b"", b"", b"\x00" * len(txs), b"", b""]
    metadata = b"".join(_bytes_field(1, m) for m in slots)
    blk = _bytes_field(1, header) + _bytes_field(2, data) + _bytes_field(3, metadata)
    return blk, hashlib.sha256(_header_der(number, previous_hash, data_hash)).digest()


def chain(n):
    """Blocks 0..n-1 chained by header hash."""
    out, prev = [], b""
    for i in range(n):
        b, prev = block(i, prev, [f"tx {i}".encode()])
        out.append(b)
    return out

// Package identity holds MessageCryptoService implementations for Go hosts of fabgossip:
// Ed25519 (the library's built-in identity kind, for tests and as a template) and X.509
// with ECDSA P-256 (how a Fabric peer's MSP identities plug in). It does not depend on
// the library, so it builds without cgo.
package identity

import (
	"errors"
	"fmt"
)

// The few protobuf messages needed here (msp.SerializedIdentity, common.Block and friends)
// are read and written with this minimal wire-format code, keeping the module free of
// third-party dependencies.

const (
	wireVarint = 0
	wire64     = 1
	wireBytes  = 2
	wire32     = 5
)

var errTruncated = errors.New("protobuf: truncated")

func readVarint(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * uint(i))
		if b[i] < 0x80 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errTruncated
}

// field is one decoded protobuf field: varint value or length-delimited bytes.
type field struct {
	num   uint64
	wire  int
	value uint64
	bytes []byte
}

// fields decodes a message's top-level fields, in order.
func fields(b []byte) ([]field, error) {
	var out []field
	for len(b) > 0 {
		key, n, err := readVarint(b)
		if err != nil {
			return nil, err
		}
		b = b[n:]
		f := field{num: key >> 3, wire: int(key & 7)}
		if f.num == 0 {
			return nil, errors.New("protobuf: field number 0")
		}
		switch f.wire {
		case wireVarint:
			f.value, n, err = readVarint(b)
			if err != nil {
				return nil, err
			}
			b = b[n:]
		case wire64:
			if len(b) < 8 {
				return nil, errTruncated
			}
			b = b[8:]
		case wire32:
			if len(b) < 4 {
				return nil, errTruncated
			}
			b = b[4:]
		case wireBytes:
			l, n, err := readVarint(b)
			if err != nil {
				return nil, err
			}
			b = b[n:]
			if l > uint64(len(b)) {
				return nil, errTruncated
			}
			f.bytes = b[:l]
			b = b[l:]
		default:
			return nil, fmt.Errorf("protobuf: unsupported wire type %d", f.wire)
		}
		out = append(out, f)
	}
	return out, nil
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// appendBytesField appends a length-delimited field; empty values are omitted (proto3).
func appendBytesField(b []byte, num uint64, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = appendVarint(b, num<<3|wireBytes)
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

// SerializedIdentity is Fabric's msp.SerializedIdentity.
type SerializedIdentity struct {
	MSPID   string
	IDBytes []byte
}

// Marshal encodes the identity as protobuf.
func (s SerializedIdentity) Marshal() []byte {
	b := appendBytesField(nil, 1, []byte(s.MSPID))
	return appendBytesField(b, 2, s.IDBytes)
}

// ParseSerializedIdentity decodes an msp.SerializedIdentity; the MSP ID must be non-empty.
func ParseSerializedIdentity(b []byte) (SerializedIdentity, error) {
	fs, err := fields(b)
	if err != nil {
		return SerializedIdentity{}, fmt.Errorf("not an msp.SerializedIdentity: %w", err)
	}
	var s SerializedIdentity
	for _, f := range fs {
		switch {
		case f.num == 1 && f.wire == wireBytes:
			s.MSPID = string(f.bytes)
		case f.num == 2 && f.wire == wireBytes:
			s.IDBytes = append([]byte(nil), f.bytes...)
		}
	}
	if s.MSPID == "" {
		return SerializedIdentity{}, errors.New("msp.SerializedIdentity has no mspid")
	}
	return s, nil
}

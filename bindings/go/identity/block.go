package identity

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Fabric's block rules, as the library's built-in VerifyBlock applies them:
//   - data hash = SHA-256 of the BlockData entries laid end to end;
//   - header bytes = DER SEQUENCE { INTEGER number, OCTET STRING previous_hash,
//     OCTET STRING data_hash };
//   - metadata[SIGNATURES] is a common.Metadata{value, signatures}; each MetadataSignature
//     signs value ‖ signature_header ‖ header bytes, its signature_header being a
//     common.SignatureHeader{creator, nonce}.

// ErrInvalidBlock wraps every VerifyBlock refusal.
var ErrInvalidBlock = errors.New("invalid block")

type blockHeader struct {
	number       uint64
	previousHash []byte
	dataHash     []byte
}

// signatureCheck reports whether sig over signed was made by creator (a serialized
// identity) and creator is an orderer trusted for the channel.
type signatureCheck func(creator, sig, signed []byte) bool

func invalidBlock(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidBlock, fmt.Sprintf(format, args...))
}

// verifyBlock applies the checks in order: decodable, header present, number == seq, data
// present and matching the header's data hash, metadata present, no other channel named,
// and, when check is non-nil, a valid orderer signature in metadata[SIGNATURES].
func verifyBlock(channel string, seq uint64, block []byte, check signatureCheck) error {
	fs, err := fields(block)
	if err != nil {
		return invalidBlock("undecodable block: %v", err)
	}
	var hdr *blockHeader
	var data [][]byte
	var haveData bool
	var metadata [][]byte
	for _, f := range fs {
		if f.wire != wireBytes {
			continue
		}
		switch f.num {
		case 1:
			h, err := parseHeader(f.bytes)
			if err != nil {
				return invalidBlock("undecodable header: %v", err)
			}
			hdr = &h
		case 2:
			haveData = true
			dfs, err := fields(f.bytes)
			if err != nil {
				return invalidBlock("undecodable data: %v", err)
			}
			for _, d := range dfs {
				if d.num == 1 && d.wire == wireBytes {
					data = append(data, d.bytes)
				}
			}
		case 3:
			mfs, err := fields(f.bytes)
			if err != nil {
				return invalidBlock("undecodable metadata: %v", err)
			}
			for _, m := range mfs {
				if m.num == 1 && m.wire == wireBytes {
					metadata = append(metadata, m.bytes)
				}
			}
		}
	}
	if hdr == nil {
		return invalidBlock("block has no header")
	}
	if hdr.number != seq {
		return invalidBlock("block number %d but sequence %d was claimed", hdr.number, seq)
	}
	if !haveData {
		return invalidBlock("block %d has no data", seq)
	}
	h := sha256.New()
	for _, d := range data {
		h.Write(d)
	}
	if !bytes.Equal(h.Sum(nil), hdr.dataHash) {
		return invalidBlock("block %d data hash does not match its header", seq)
	}
	if len(metadata) == 0 {
		return invalidBlock("block %d has no metadata", seq)
	}
	if len(data) > 0 {
		if other, ok := channelOf(data[0]); ok && other != channel {
			return invalidBlock("block %d belongs to channel %q, not %q", seq, other, channel)
		}
	}
	if check == nil {
		return nil
	}
	return checkOrdererSignature(seq, *hdr, metadata[0], check)
}

func parseHeader(b []byte) (blockHeader, error) {
	fs, err := fields(b)
	if err != nil {
		return blockHeader{}, err
	}
	var h blockHeader
	for _, f := range fs {
		switch {
		case f.num == 1 && f.wire == wireVarint:
			h.number = f.value
		case f.num == 2 && f.wire == wireBytes:
			h.previousHash = f.bytes
		case f.num == 3 && f.wire == wireBytes:
			h.dataHash = f.bytes
		}
	}
	return h, nil
}

// bytesField is the last occurrence of length-delimited field num in msg.
func bytesField(msg []byte, num uint64) ([]byte, bool) {
	fs, err := fields(msg)
	if err != nil {
		return nil, false
	}
	var v []byte
	found := false
	for _, f := range fs {
		if f.num == num && f.wire == wireBytes {
			v, found = f.bytes, true
		}
	}
	return v, found
}

// channelOf reads Envelope.payload.header.channel_header.channel_id of a block entry.
// Entries that are not Fabric envelopes (test chains) name no channel.
func channelOf(entry []byte) (string, bool) {
	payload, ok := bytesField(entry, 1)
	if !ok {
		return "", false
	}
	header, ok := bytesField(payload, 1)
	if !ok {
		return "", false
	}
	ch, ok := bytesField(header, 1)
	if !ok {
		return "", false
	}
	id, ok := bytesField(ch, 4)
	if !ok || len(id) == 0 {
		return "", false
	}
	return string(id), true
}

func checkOrdererSignature(seq uint64, hdr blockHeader, raw []byte, check signatureCheck) error {
	if len(raw) == 0 {
		return invalidBlock("block %d has no SIGNATURES metadata", seq)
	}
	fs, err := fields(raw)
	if err != nil {
		return invalidBlock("block %d SIGNATURES metadata undecodable: %v", seq, err)
	}
	var value []byte
	var sigs [][]byte
	for _, f := range fs {
		if f.wire != wireBytes {
			continue
		}
		switch f.num {
		case 1:
			value = f.bytes
		case 2:
			sigs = append(sigs, f.bytes)
		}
	}
	headerBytes := HeaderBytes(hdr.number, hdr.previousHash, hdr.dataHash)
	for _, ms := range sigs {
		sh, _ := bytesField(ms, 1)
		sig, _ := bytesField(ms, 2)
		// Signatures naming their signer only by a BFT identifier carry no creator here.
		creator, ok := bytesField(sh, 1)
		if !ok {
			continue
		}
		signed := make([]byte, 0, len(value)+len(sh)+len(headerBytes))
		signed = append(append(append(signed, value...), sh...), headerBytes...)
		if check(creator, sig, signed) {
			return nil
		}
	}
	return invalidBlock("block %d carries no valid signature from a trusted orderer", seq)
}

// HeaderBytes is the DER encoding of a block header that orderers sign; its SHA-256 is the
// block's hash (the next block's previous_hash).
func HeaderBytes(number uint64, previousHash, dataHash []byte) []byte {
	var body []byte
	body = appendDERUint(body, number)
	body = appendDER(body, 0x04, previousHash)
	body = appendDER(body, 0x04, dataHash)
	return appendDER(nil, 0x30, body)
}

func appendDER(out []byte, tag byte, content []byte) []byte {
	out = append(out, tag)
	n := len(content)
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	default:
		var be []byte
		for v := n; v > 0; v >>= 8 {
			be = append([]byte{byte(v)}, be...)
		}
		out = append(out, 0x80|byte(len(be)))
		out = append(out, be...)
	}
	return append(out, content...)
}

func appendDERUint(out []byte, n uint64) []byte {
	var digits []byte
	for v := n; v > 0; v >>= 8 {
		digits = append([]byte{byte(v)}, digits...)
	}
	if len(digits) == 0 {
		digits = []byte{0}
	}
	// A set top bit would read as negative: put a zero in front.
	if digits[0]&0x80 != 0 {
		digits = append([]byte{0}, digits...)
	}
	return appendDER(out, 0x02, digits)
}

package fabgossip

/*
#include <stdlib.h>
#include "fabgossip.h"
*/
import "C"

import (
	"encoding/json"
	"unsafe"
)

// AnchorPeer is an anchor peer of a channel's join message.
type AnchorPeer struct {
	Org  string `json:"org"`
	Host string `json:"host"`
	Port uint16 `json:"port"`
}

// Orderer is an ordering service endpoint the delivery service pulls blocks from while this
// peer leads the channel. TLSRootCert (PEM) turns TLS on; PublicKey (hex of an Ed25519 key)
// is the block-signing key the built-in crypto accepts.
type Orderer struct {
	Endpoint    string `json:"endpoint"`
	TLSRootCert string `json:"tls_root_cert,omitempty"`
	PublicKey   string `json:"public_key,omitempty"`
}

// JoinMessage is a channel's join message: its config sequence, member orgs, anchor peers
// and orderers. An older sequence than the one joined is ignored; a newer one reconfigures.
type JoinMessage struct {
	Sequence    uint64       `json:"sequence"`
	Members     []string     `json:"members"`
	AnchorPeers []AnchorPeer `json:"anchor_peers,omitempty"`
	Orderers    []Orderer    `json:"orderers,omitempty"`
}

// cText is a C copy of s for the duration of one call; free it with C.free.
func cText(s string) (*C.char, C.size_t) {
	if s == "" {
		return nil, 0
	}
	return (*C.char)(C.CBytes([]byte(s))), C.size_t(len(s))
}

// detailCall runs one library call that takes an err_out and turns a failure into an
// *Error carrying the library's detail (why it failed).
func detailCall(call func(errOut *C.fg_bytes) C.fg_status) error {
	var errOut C.fg_bytes
	return statusErr(call(&errOut), takeBytes(&errOut))
}

// JoinChannel joins channel (fg_join_channel); its ledger is opened through the ledger set
// with SetLedger, else the embedded file ledger. A refusal is an *Error whose Detail says
// why (for a bad join message, the field at fault).
func JoinChannel(channel string, msg JoinMessage) error {
	js, err := json.Marshal(msg)
	if err != nil {
		return &Error{Status: StatusInvalidArg, Detail: err.Error()}
	}
	return JoinChannelJSON(channel, string(js))
}

// JoinChannelJSON is JoinChannel with the join message as JSON text, as fg_join_channel
// takes it.
func JoinChannelJSON(channel, joinJSON string) error {
	ch, chLen := cText(channel)
	defer C.free(unsafe.Pointer(ch))
	j, jLen := cText(joinJSON)
	defer C.free(unsafe.Pointer(j))
	return detailCall(func(e *C.fg_bytes) C.fg_status { return C.fg_join_channel(ch, chLen, j, jLen, e) })
}

// JoinChannelWithBlock joins channel with its genesis block or latest config block (a
// marshaled common.Block, as `peer channel join -b` takes it), as fg_join_channel does:
// member orgs, anchor peers and orderers come from the block's config, block 0 is committed
// without an orderer signature check, and every committed config block reconfigures the
// channel.
func JoinChannelWithBlock(channel string, block []byte) error {
	if len(block) == 0 {
		return &Error{Status: StatusInvalidArg, Detail: "the config block is empty"}
	}
	ch, chLen := cText(channel)
	defer C.free(unsafe.Pointer(ch))
	b := C.CBytes(block)
	defer C.free(b)
	return detailCall(func(e *C.fg_bytes) C.fg_status {
		return C.fg_join_channel(ch, chLen, (*C.char)(b), C.size_t(len(block)), e)
	})
}

// LeaveChannel leaves channel (fg_leave_channel).
func LeaveChannel(channel string) error {
	ch, chLen := cText(channel)
	defer C.free(unsafe.Pointer(ch))
	return detailCall(func(e *C.fg_bytes) C.fg_status { return C.fg_leave_channel(ch, chLen, e) })
}

// UpdateLedgerHeight sets the ledger height this peer publishes on channel
// (fg_update_ledger_height).
func UpdateLedgerHeight(channel string, height uint64) error {
	ch, chLen := cText(channel)
	defer C.free(unsafe.Pointer(ch))
	return detailCall(func(e *C.fg_bytes) C.fg_status {
		return C.fg_update_ledger_height(ch, chLen, C.uint64_t(height), e)
	})
}

// UpdateChaincodes sets the chaincodes this peer publishes on channel
// (fg_update_chaincodes).
func UpdateChaincodes(channel string, chaincodes []Chaincode) error {
	if chaincodes == nil {
		chaincodes = []Chaincode{}
	}
	js, err := json.Marshal(chaincodes)
	if err != nil {
		return &Error{Status: StatusInvalidArg, Detail: err.Error()}
	}
	ch, chLen := cText(channel)
	defer C.free(unsafe.Pointer(ch))
	j, jLen := cText(string(js))
	defer C.free(unsafe.Pointer(j))
	return detailCall(func(e *C.fg_bytes) C.fg_status { return C.fg_update_chaincodes(ch, chLen, j, jLen, e) })
}

// AddPayload adds block seq (a serialized common.Block) of channel (fg_add_payload):
// verified, committed in order, gossiped to the org. Status FG_STATUS_BUSY: the block is
// too far above the ledger height (the Detail gives both); offer it again later. Status
// FG_STATUS_CRYPTO: the block failed verification (the Detail says why).
func AddPayload(channel string, seq uint64, block []byte) error {
	if len(block) == 0 {
		return &Error{Status: StatusInvalidArg, Detail: "empty block"}
	}
	ch, chLen := cText(channel)
	defer C.free(unsafe.Pointer(ch))
	b := C.CBytes(block)
	defer C.free(b)
	return detailCall(func(e *C.fg_bytes) C.fg_status {
		return C.fg_add_payload(ch, chLen, C.uint64_t(seq), (*C.uint8_t)(b), C.size_t(len(block)), e)
	})
}

// LedgerHeight is the number of blocks committed on channel (fg_ledger_height).
func LedgerHeight(channel string) (uint64, error) {
	ch, chLen := cText(channel)
	defer C.free(unsafe.Pointer(ch))
	var h C.uint64_t
	if err := statusErr(C.fg_ledger_height(ch, chLen, &h), ""); err != nil {
		return 0, err
	}
	return uint64(h), nil
}

// Chaincode is a chaincode a channel peer advertises.
type Chaincode struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ChannelPeer is a peer of a joined channel with its StateInfo.
type ChannelPeer struct {
	PKIID            string      `json:"pki_id"`
	Endpoint         string      `json:"endpoint"`
	InternalEndpoint string      `json:"internal_endpoint"`
	Org              string      `json:"org"`
	LedgerHeight     uint64      `json:"ledger_height"`
	Chaincodes       []Chaincode `json:"chaincodes"`
	LeftChannel      bool        `json:"left_channel"`
}

// PeersOfChannel lists the alive peers of a joined channel, self excluded
// (fg_peers_of_channel). It never waits on the network.
func PeersOfChannel(channel string) ([]ChannelPeer, error) {
	ch, chLen := cText(channel)
	defer C.free(unsafe.Pointer(ch))
	var out C.fg_bytes
	if err := statusErr(C.fg_peers_of_channel(ch, chLen, &out), ""); err != nil {
		return nil, err
	}
	var peers []ChannelPeer
	if err := json.Unmarshal([]byte(takeBytes(&out)), &peers); err != nil {
		return nil, &Error{Status: StatusInternal, Detail: "fg_peers_of_channel JSON: " + err.Error()}
	}
	return peers, nil
}

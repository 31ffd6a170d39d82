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

// JoinMessage is a channel's join message: its config sequence, member orgs and anchor
// peers. An older sequence than the one joined is ignored; a newer one reconfigures.
type JoinMessage struct {
	Sequence    uint64       `json:"sequence"`
	Members     []string     `json:"members"`
	AnchorPeers []AnchorPeer `json:"anchor_peers,omitempty"`
}

// cText is a C copy of s for the duration of one call; free it with C.free.
func cText(s string) (*C.char, C.size_t) {
	if s == "" {
		return nil, 0
	}
	return (*C.char)(C.CBytes([]byte(s))), C.size_t(len(s))
}

// JoinChannel joins channel (fg_join_channel); its ledger is opened through the ledger set
// with SetLedger, else the embedded file ledger.
func JoinChannel(channel string, msg JoinMessage) error {
	js, err := json.Marshal(msg)
	if err != nil {
		return &Error{Status: StatusInvalidArg, Detail: err.Error()}
	}
	ch, chLen := cText(channel)
	defer C.free(unsafe.Pointer(ch))
	j, jLen := cText(string(js))
	defer C.free(unsafe.Pointer(j))
	return statusErr(C.fg_join_channel(ch, chLen, j, jLen), "")
}

// LeaveChannel leaves channel (fg_leave_channel).
func LeaveChannel(channel string) error {
	ch, chLen := cText(channel)
	defer C.free(unsafe.Pointer(ch))
	return statusErr(C.fg_leave_channel(ch, chLen), "")
}

// AddPayload adds block seq (a serialized common.Block) of channel (fg_add_payload):
// verified, committed in order, gossiped to the org. Status FG_STATUS_BUSY: the block is
// too far above the ledger height; offer it again later.
func AddPayload(channel string, seq uint64, block []byte) error {
	if len(block) == 0 {
		return &Error{Status: StatusInvalidArg, Detail: "empty block"}
	}
	ch, chLen := cText(channel)
	defer C.free(unsafe.Pointer(ch))
	b := C.CBytes(block)
	defer C.free(b)
	return statusErr(C.fg_add_payload(ch, chLen, C.uint64_t(seq), (*C.uint8_t)(b), C.size_t(len(block))), "")
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

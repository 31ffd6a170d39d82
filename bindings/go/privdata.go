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

// PrivateDataPeer is one peer a collection's private data was pushed to.
type PrivateDataPeer struct {
	PKIID       string `json:"pki_id"`
	Endpoint    string `json:"endpoint"`
	Org         string `json:"org"`
	AckRequired bool   `json:"ack_required"`
	// "acked", "nacked", "timeout" or "send_failed".
	Result string `json:"result"`
	// The NACK's text, or why the send failed.
	Error string `json:"error,omitempty"`
}

// CollectionDistribution is the outcome of one namespace × collection.
type CollectionDistribution struct {
	Namespace         string            `json:"namespace"`
	Collection        string            `json:"collection"`
	RequiredPeerCount int               `json:"required_peer_count"`
	MaxPeerCount      int               `json:"max_peer_count"`
	Acked             []PrivateDataPeer `json:"acked"`
	Failed            []PrivateDataPeer `json:"failed"`
	RequiredMet       bool              `json:"required_met"`
	// Why the collection could not be planned (then nothing was sent).
	Error string `json:"error,omitempty"`
}

// DistributionReport is what fg_distribute_private_data did.
type DistributionReport struct {
	Channel     string                   `json:"channel"`
	TxID        string                   `json:"tx_id"`
	Collections []CollectionDistribution `json:"collections"`
	RequiredMet bool                     `json:"required_met"`
}

// DistributePrivateData pushes an endorsed transaction's private data (pvtData: a
// serialized transientstore.TxPvtReadWriteSetWithConfigInfo) to eligible peers of channel
// and waits for their acks, up to peer.gossip.pvtData.pushAckTimeout
// (fg_distribute_private_data). When a collection did not get requiredPeerCount acks, the
// report comes back with an *Error of status StatusIncomplete.
func DistributePrivateData(channel, txID string, pvtData []byte, blockHeight uint64) (*DistributionReport, error) {
	if len(pvtData) == 0 {
		return nil, &Error{Status: StatusInvalidArg, Detail: "empty private data"}
	}
	ch, chLen := cText(channel)
	defer C.free(unsafe.Pointer(ch))
	tx, txLen := cText(txID)
	defer C.free(unsafe.Pointer(tx))
	data := C.CBytes(pvtData)
	defer C.free(data)
	var out, errOut C.fg_bytes
	st := C.fg_distribute_private_data(ch, chLen, tx, txLen, (*C.uint8_t)(data),
		C.size_t(len(pvtData)), C.uint64_t(blockHeight), &out, &errOut)
	raw := takeBytes(&out)
	err := statusErr(st, takeBytes(&errOut))
	if raw == "" {
		return nil, err
	}
	var report DistributionReport
	if jerr := json.Unmarshal([]byte(raw), &report); jerr != nil {
		return nil, &Error{Status: StatusInternal, Detail: "fg_distribute_private_data JSON: " + jerr.Error()}
	}
	return &report, err
}

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

// SetCollectionConfig sets the collection configs of chaincode namespace in channel
// (fg_set_collection_config): pkg is a serialized protos.CollectionConfigPackage, as a
// Fabric peer reads it from its ledger; an empty pkg removes them. They decide the
// namespace's explicit collections for private data pushed to this peer and asked of it,
// over the config a push carries.
func SetCollectionConfig(channel, namespace string, pkg []byte) error {
	ch, chLen := cText(channel)
	defer C.free(unsafe.Pointer(ch))
	ns, nsLen := cText(namespace)
	defer C.free(unsafe.Pointer(ns))
	var data unsafe.Pointer
	if len(pkg) > 0 {
		data = C.CBytes(pkg)
		defer C.free(data)
	}
	var errOut C.fg_bytes
	st := C.fg_set_collection_config(ch, chLen, ns, nsLen, (*C.uint8_t)(data),
		C.size_t(len(pkg)), &errOut)
	return statusErr(st, takeBytes(&errOut))
}

// PrivateDataExplanation says why a peer is or is not a target for a collection's private
// data (fg_explain_private_data).
type PrivateDataExplanation struct {
	Channel    string `json:"channel"`
	Namespace  string `json:"namespace"`
	Collection string `json:"collection"`
	Query      string `json:"query"`
	// "eligible", "is_self", "not_in_channel", "unknown_collection", "identity_unknown",
	// "not_eligible", "no_endpoint" or "below_block_height".
	Reason            string   `json:"reason"`
	Detail            string   `json:"detail"`
	PKIID             *string  `json:"pki_id"`
	Org               *string  `json:"org"`
	Endpoint          *string  `json:"endpoint"`
	LedgerHeight      *uint64  `json:"ledger_height"`
	MemberOrgs        []string `json:"member_orgs"`
	RequiredPeerCount *uint32  `json:"required_peer_count"`
	MaxPeerCount      *uint32  `json:"max_peer_count"`
	// "msp_policy" or "msp_id".
	Membership string `json:"membership"`
}

// ExplainPrivateData says why the peer named by query (host:port or a PKI-ID in hex) is or
// is not a target for the private data of namespace/collection in channel; blockHeight is
// 0, or a ledger height the peer must have reached.
func ExplainPrivateData(channel, namespace, collection, query string, blockHeight uint64) (*PrivateDataExplanation, error) {
	ch, chLen := cText(channel)
	defer C.free(unsafe.Pointer(ch))
	ns, nsLen := cText(namespace)
	defer C.free(unsafe.Pointer(ns))
	coll, collLen := cText(collection)
	defer C.free(unsafe.Pointer(coll))
	q, qLen := cText(query)
	defer C.free(unsafe.Pointer(q))
	var out, errOut C.fg_bytes
	st := C.fg_explain_private_data(ch, chLen, ns, nsLen, coll, collLen, q, qLen,
		C.uint64_t(blockHeight), &out, &errOut)
	if err := statusErr(st, takeBytes(&errOut)); err != nil {
		return nil, err
	}
	var e PrivateDataExplanation
	if jerr := json.Unmarshal([]byte(takeBytes(&out)), &e); jerr != nil {
		return nil, &Error{Status: StatusInternal, Detail: "fg_explain_private_data JSON: " + jerr.Error()}
	}
	return &e, nil
}

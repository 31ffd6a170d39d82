package fabgossip

/*
#include <stdlib.h>
#include "fabgossip.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"unsafe"
)

// Metrics returns every metric of the running service as Prometheus text exposition
// (format 0.0.4), with Fabric's gossip metric names where Fabric has the metric.
func Metrics() (string, error) {
	var out C.fg_bytes
	if err := statusErr(C.fg_metrics(&out), ""); err != nil {
		return "", err
	}
	return takeBytes(&out), nil
}

// Contact is the last dial or handshake with a peer.
type Contact struct {
	Endpoint  string `json:"endpoint"`
	Direction string `json:"direction"` // "outbound" or "inbound"
	// Outcome is "handshaken", "dial_failed" (see Error) or "handshake_failed" (see
	// Reason and Detail).
	Outcome     string  `json:"outcome"`
	Error       string  `json:"error,omitempty"`
	Reason      string  `json:"reason,omitempty"`
	Detail      string  `json:"detail,omitempty"`
	PKIID       *string `json:"pki_id"`
	Org         *string `json:"org"`
	AtUnixMs    uint64  `json:"at_unix_ms"`
	SinceUnixMs uint64  `json:"since_unix_ms"`
	Repeats     uint64  `json:"repeats"`
}

// Explanation says why a peer is or is not in the view (see fg_explain_peer).
type Explanation struct {
	Query string `json:"query"`
	// Reason is one of "alive", "never_dialed", "dial_failed", "handshake_failed",
	// "other_org_no_external_endpoint", "identity_expired", "dead", "purged",
	// "handshaken_not_in_view", "unknown".
	Reason           string   `json:"reason"`
	Detail           string   `json:"detail"`
	InView           bool     `json:"in_view"`
	PKIID            *string  `json:"pki_id"`
	Org              *string  `json:"org"`
	Endpoint         *string  `json:"endpoint"`
	InternalEndpoint *string  `json:"internal_endpoint"`
	State            *string  `json:"state"`
	AliveSinceUnixMs *uint64  `json:"alive_since_unix_ms"`
	LastAliveUnixMs  *uint64  `json:"last_alive_unix_ms"`
	DeadSinceUnixMs  *uint64  `json:"dead_since_unix_ms"`
	PurgedAtUnixMs   *uint64  `json:"purged_at_unix_ms"`
	LastContact      *Contact `json:"last_contact"`
	Self             struct {
		Org              string `json:"org"`
		ExternalEndpoint string `json:"external_endpoint"`
	} `json:"self"`
}

// ExplainPeer explains what this peer knows of the peer named by query (an endpoint
// "host:port" or a PKI-ID in hex) and why it is or is not in the view.
func ExplainPeer(query string) (Explanation, error) {
	if query == "" {
		return Explanation{}, &Error{Status: StatusInvalidArg, Detail: "empty query"}
	}
	q := C.CString(query)
	defer C.free(unsafe.Pointer(q))
	var out C.fg_bytes
	if err := statusErr(C.fg_explain_peer(q, C.size_t(len(query)), &out), "query "+query); err != nil {
		return Explanation{}, err
	}
	raw := takeBytes(&out)
	var e Explanation
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return Explanation{}, &Error{Status: StatusInternal, Detail: fmt.Sprintf("fg_explain_peer JSON: %v", err)}
	}
	return e, nil
}

// Metrics is the package-level Metrics.
func (s *Service) Metrics() (string, error) { return Metrics() }

// ExplainPeer is the package-level ExplainPeer.
func (s *Service) ExplainPeer(query string) (Explanation, error) { return ExplainPeer(query) }

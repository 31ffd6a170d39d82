package main

// The identities Fabric's identity mapper holds, for `identities`: what the node
// learned by handshake, from alive messages during a peer's publishCertPeriod, or
// through the identity pull (IDENTITY_MSG), its own included.

import (
	"encoding/hex"
	"sort"
)

// identityEntry is one line of the `identities` answer.
type identityEntry struct {
	PKIID string `json:"pki_id"`
	Org   string `json:"org"`
}

func (t *membershipTracker) identities() []identityEntry {
	out := []identityEntry{}
	for _, info := range t.src.IdentityInfo() {
		out = append(out, identityEntry{PKIID: hex.EncodeToString(info.PKIId), Org: string(info.Organization)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PKIID < out[j].PKIID })
	return out
}

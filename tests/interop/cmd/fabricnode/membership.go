package main

// Membership tracking. Fabric's Node exposes only the alive view (Peers()), so
// dead members are derived: a peer once seen alive and now absent from the view
// is reported dead until it shows up alive again.

import (
	"encoding/hex"
	"sort"
	"sync"
	"time"

	"github.com/hyperledger/fabric/gossip/api"
	"github.com/hyperledger/fabric/gossip/discovery"
)

// peerEntry is one line of the `peers` answer.
type peerEntry struct {
	PKIID            string `json:"pki_id"`
	Endpoint         string `json:"endpoint"`
	InternalEndpoint string `json:"internal_endpoint"`
	Org              string `json:"org"`
	State            string `json:"state"`
}

// membershipSource is the part of the gossip node the tracker reads.
type membershipSource interface {
	Peers() []discovery.NetworkMember
	IdentityInfo() api.PeerIdentitySet
}

type membershipTracker struct {
	src  membershipSource
	mu   sync.Mutex
	seen map[string]*peerEntry // PKI-ID hex → last known entry
}

func newMembershipTracker(src membershipSource) *membershipTracker {
	return &membershipTracker{src: src, seen: map[string]*peerEntry{}}
}

// refresh reads the alive view once and updates every known member's state.
// Orgs come from the identity store, read only when a `peers` answer needs them
// (withOrgs) to keep the periodic sampling cheap.
func (t *membershipTracker) refresh(withOrgs bool) {
	alive := t.src.Peers()
	orgs := map[string]string{}
	if withOrgs {
		for _, info := range t.src.IdentityInfo() {
			orgs[hex.EncodeToString(info.PKIId)] = string(info.Organization)
		}
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	now := map[string]bool{}
	for _, m := range alive {
		id := hex.EncodeToString(m.PKIid)
		now[id] = true
		e, ok := t.seen[id]
		if !ok {
			e = &peerEntry{PKIID: id}
			t.seen[id] = e
		}
		e.Endpoint = m.Endpoint
		e.InternalEndpoint = m.InternalEndpoint
		if org, ok := orgs[id]; ok {
			e.Org = org
		}
		e.State = "alive"
	}
	for id, e := range t.seen {
		if !now[id] {
			e.State = "dead"
		}
		if e.Org == "" {
			e.Org = orgs[id]
		}
	}
}

// snapshot refreshes and returns all known members sorted by PKI-ID.
func (t *membershipTracker) snapshot() []peerEntry {
	t.refresh(true)
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]peerEntry, 0, len(t.seen))
	for _, e := range t.seen {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PKIID < out[j].PKIID })
	return out
}

// run refreshes periodically so that a peer alive only between two `peers`
// commands is still remembered and later reported dead.
func (t *membershipTracker) run(every time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			t.refresh(false)
		}
	}
}

package main

import (
	"sync"
	"testing"

	"github.com/hyperledger/fabric/gossip/api"
	"github.com/hyperledger/fabric/gossip/common"
	"github.com/hyperledger/fabric/gossip/discovery"
)

// fakeView stands in for the gossip node's alive view and identity store.
type fakeView struct {
	mu    sync.Mutex
	alive []discovery.NetworkMember
	ids   api.PeerIdentitySet
}

func (f *fakeView) Peers() []discovery.NetworkMember {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]discovery.NetworkMember(nil), f.alive...)
}

func (f *fakeView) IdentityInfo() api.PeerIdentitySet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append(api.PeerIdentitySet(nil), f.ids...)
}

func (f *fakeView) set(alive ...discovery.NetworkMember) {
	f.mu.Lock()
	f.alive = alive
	f.mu.Unlock()
}

func TestTrackerReportsMembersLeavingTheAliveViewAsDeadAndBackAsAlive(t *testing.T) {
	a := discovery.NetworkMember{PKIid: common.PKIidType{0xaa}, Endpoint: "e:1", InternalEndpoint: "i:1"}
	b := discovery.NetworkMember{PKIid: common.PKIidType{0xbb}, InternalEndpoint: "i:2"}
	f := &fakeView{ids: api.PeerIdentitySet{
		{PKIId: a.PKIid, Organization: api.OrgIdentityType("Org1MSP")},
		{PKIId: b.PKIid, Organization: api.OrgIdentityType("Org2MSP")},
	}}
	tr := newMembershipTracker(f)

	if got := tr.snapshot(); len(got) != 0 {
		t.Fatalf("empty view reported %v", got)
	}
	f.set(a, b)
	tr.refresh(false) // periodic sample: b seen alive here only
	f.set(a)
	got := tr.snapshot()
	want := []peerEntry{
		{PKIID: "aa", Endpoint: "e:1", InternalEndpoint: "i:1", Org: "Org1MSP", State: "alive"},
		{PKIID: "bb", Endpoint: "", InternalEndpoint: "i:2", Org: "Org2MSP", State: "dead"},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("after b left: %+v, want %+v", got, want)
	}
	f.set(a, b)
	got = tr.snapshot()
	if got[1].State != "alive" || got[1].Org != "Org2MSP" {
		t.Fatalf("after b returned: %+v", got[1])
	}
}

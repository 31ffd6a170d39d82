package main

import (
	"strings"
	"testing"

	"github.com/hyperledger/fabric/gossip/election"
)

func TestIsLeaderRefusesUnjoinedChannelAndIsFalseWithoutElection(t *testing.T) {
	off := newLeaderElections(nil, nil, nil, false, election.ElectionConfig{}, nil)
	// Without useLeaderElection nothing starts and the node never leads.
	off.start("ch")
	if l, err := off.isLeader("ch", true); err != nil || l {
		t.Errorf("election off: leader %t err %v, want false, nil", l, err)
	}
	if _, err := off.isLeader("ch", false); err == nil || !strings.Contains(err.Error(), "not joined") {
		t.Errorf("unjoined channel: err %v, want one saying not joined", err)
	}
	var none *leaderElections
	none.start("ch")
	none.stop("ch")
	none.stopAll()
	if l, err := none.isLeader("ch", true); err != nil || l {
		t.Errorf("no elections: leader %t err %v, want false, nil", l, err)
	}
	// On, but the channel's election is not running (left): not leader.
	on := newLeaderElections(nil, nil, nil, true, election.ElectionConfig{}, nil)
	if l, err := on.isLeader("ch", true); err != nil || l {
		t.Errorf("election on, channel without a running election: leader %t err %v", l, err)
	}
}

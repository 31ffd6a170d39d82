package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// pushPvt makes a Fabric node push a private write set to `to` as Fabric's distributor
// does (SendByCriteria{MaxPeers 1, MinAck 1, Timeout}); it returns SendByCriteria's error
// text, "" when the target acknowledged.
func (p *peerProc) pushPvt(channel string, to *peerProc, txID, collection string, memberOrgs []string) (string, error) {
	js, err := json.Marshal(map[string]any{
		"peer": to.pkiID, "tx_id": txID, "namespace": "mycc", "collection": collection,
		"member_orgs": memberOrgs, "value": "value of " + txID, "height": 1, "timeout_ms": 3000,
	})
	if err != nil {
		return "", err
	}
	ev, err := p.ask(fmt.Sprintf("push_pvt %s %s", channel, js), "pvt_sent")
	return ev.Message, err
}

// A Fabric endorser's private-data push to a fabgossip peer is acknowledged: Fabric's
// SendByCriteria succeeds (it timed out after 3 s before fabgossip answered pushes), for
// the peer's own implicit org collection and for an explicit collection its org is a member
// of. A push of a collection the fabgossip peer's org is not a member of is answered with
// an error at once (no timeout) and not stored.
func TestMixedPrivateData_FabricSendByCriteriaToFabgossipIsAcked(t *testing.T) {
	lib := fabgossipLib(t)
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("fabgossip library %s not built (cargo build --release first): %v", lib, err)
	}
	const channel = "pvtchannel"
	addrs := freeAddrs(t, 2)
	fabric := startFabricNode(t, fabricOpts{
		name: "fabric0", address: addrs[0], msp: org, id: newIdentity(t, org),
		bootstrap: []string{addrs[1]}, alive: aliveInterval, expiration: aliveExpiration,
	})
	fg := startFabgossipPeer(t, fabgossipOpts{
		name: "fabgossip0", address: addrs[1], msp: org, id: newIdentity(t, org),
		bootstrap: []string{addrs[0]}, alive: aliveInterval, expiration: aliveExpiration,
	})
	nodes := []*peerProc{fabric, fg}
	waitForViews(t, "private data test: full membership view", nodes, nodes, nil, org, fullViewLimit)
	heights := map[*peerProc]uint64{}
	for i, n := range nodes {
		if err := n.join(channel, joinSpec{Sequence: 1, Members: []string{org}}); err != nil {
			t.Fatal(err)
		}
		heights[n] = uint64(2 + i)
		if err := n.publishHeight(channel, heights[n]); err != nil {
			t.Fatal(err)
		}
	}
	waitForChannelViews(t, "both peers in the channel", channel, nodes, heights, org, channelViewLimit)

	if msg, err := fabric.pushPvt(channel, fg, "tx-implicit", "_implicit_org_"+org, nil); err != nil || msg != "" {
		t.Fatalf("push to the implicit org collection: SendByCriteria error %q (%v)", msg, err)
	}
	if msg, err := fabric.pushPvt(channel, fg, "tx-member", "secret", []string{org}); err != nil || msg != "" {
		t.Fatalf("push to a member collection: SendByCriteria error %q (%v)", msg, err)
	}
	msg, err := fabric.pushPvt(channel, fg, "tx-other", "others", []string{"Org2MSP"})
	if err != nil {
		t.Fatal(err)
	}
	if msg == "" || strings.Contains(msg, "timed out") {
		t.Fatalf("push of a collection fabgossip's org is not in: want an error ack, got %q", msg)
	}
	t.Logf("refused push answered: %s", msg)

	sample := func(result string) float64 {
		v, err := fg.metricValue(fmt.Sprintf("fabgossip_privdata_received{channel=%q,result=%q}", channel, result))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := sample("stored"); got != 2 {
		t.Fatalf("fabgossip stored %v pushes, want 2", got)
	}
	if got := sample("not_eligible"); got != 1 {
		t.Fatalf("fabgossip refused %v pushes as not eligible, want 1", got)
	}
	v, err := fg.metricValue(fmt.Sprintf("fabgossip_privdata_transient_entries{channel=%q}", channel))
	if err != nil || v != 2 {
		t.Fatalf("transient entries %v (%v), want 2", v, err)
	}
}

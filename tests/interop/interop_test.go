package interop

// Interop scenarios: real Fabric gossip nodes (cmd/fabricnode, Fabric's own
// gossip packages) and fabgossip peers in one network, one org, TLS on.

import (
	"os"
	"testing"
	"time"
)

const (
	org = "Org1MSP"
	// Shortened membership timers so that death is seen in seconds.
	aliveInterval   = 500 * time.Millisecond
	aliveExpiration = 2500 * time.Millisecond

	fullViewLimit = 90 * time.Second
	deadLimit     = 45 * time.Second
)

// ringBootstrap gives node i the two nodes started just before it (wrapping),
// so that with alternating kinds every node bootstraps through one of each kind.
func ringBootstrap(addrs []string, i int) []string {
	n := len(addrs)
	return []string{addrs[(i-1+n)%n], addrs[(i-2+n)%n]}
}

func TestFabricOnlyTLS_ThreeNodesReachFullView_ThenSeeStoppedNodeDead(t *testing.T) {
	addrs := freeAddrs(t, 3)
	var nodes []*peerProc
	for i, a := range addrs {
		nodes = append(nodes, startFabricNode(t, fabricOpts{
			name: []string{"fabric0", "fabric1", "fabric2"}[i], address: a, msp: org,
			id: newIdentity(t, org), bootstrap: ringBootstrap(addrs, i), tls: true,
			alive: aliveInterval, expiration: aliveExpiration,
		}))
	}
	waitForViews(t, "fabric-only full view", nodes, nodes, nil, org, fullViewLimit)

	st, err := nodes[0].stats()
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	if st.RSSKB <= 0 || st.CPUS <= 0 {
		t.Fatalf("stats: rss_kb=%d cpu_s=%f, want both positive", st.RSSKB, st.CPUS)
	}

	stopped := nodes[1]
	stopped.shutdown()
	rest := []*peerProc{nodes[0], nodes[2]}
	waitForViews(t, "fabric-only stopped node seen dead", rest, nodes, []*peerProc{stopped}, org, deadLimit)

	for _, n := range rest {
		n.shutdown()
	}
}

func TestMixedTLS_ThreeFabricThreeFabgossip_ReachFullView_ThenBothKindsSeeStoppedOfEachKindDead(t *testing.T) {
	lib := fabgossipLib(t)
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("fabgossip library %s not built (cargo build --release first): %v", lib, err)
	}
	// Kinds alternate so that every node's two bootstrap peers are one of each kind.
	names := []string{"fabric0", "fabgossip0", "fabric1", "fabgossip1", "fabric2", "fabgossip2"}
	addrs := freeAddrs(t, len(names))
	var nodes []*peerProc
	for i, name := range names {
		id := newIdentity(t, org)
		boot := ringBootstrap(addrs, i)
		if i%2 == 0 {
			nodes = append(nodes, startFabricNode(t, fabricOpts{
				name: name, address: addrs[i], msp: org, id: id, bootstrap: boot, tls: true,
				alive: aliveInterval, expiration: aliveExpiration,
			}))
		} else {
			nodes = append(nodes, startFabgossipPeer(t, fabgossipOpts{
				name: name, address: addrs[i], msp: org, id: id, bootstrap: boot, tls: true,
				alive: aliveInterval, expiration: aliveExpiration,
			}))
		}
	}
	waitForViews(t, "mixed full view (each of 6 sees the other 5 alive)", nodes, nodes, nil, org, fullViewLimit)
	logView(t, nodes[0])
	logView(t, nodes[1])

	fabricStopped, fabgossipStopped := nodes[2], nodes[3]
	fabricStopped.shutdown()
	fabgossipStopped.shutdown()
	dead := []*peerProc{fabricStopped, fabgossipStopped}
	var rest []*peerProc
	for _, n := range nodes {
		if n != fabricStopped && n != fabgossipStopped {
			rest = append(rest, n)
		}
	}
	waitForViews(t, "mixed: both kinds see the stopped Fabric node and the stopped fabgossip peer dead",
		rest, nodes, dead, org, deadLimit)

	for _, n := range rest {
		n.shutdown()
	}
}

// logView records one process's membership view in the test log.
func logView(t *testing.T, p *peerProc) {
	t.Helper()
	view, err := p.peers()
	if err != nil {
		t.Fatalf("%v", err)
	}
	for _, r := range view {
		t.Logf("%s (%s) sees %s… endpoint=%s internal=%s org=%s %s",
			p.name, p.kind, r.PKIID[:12], r.Endpoint, r.InternalEndpoint, r.Org, r.State)
	}
}

// Limits of the channel scenario.
const (
	channelViewLimit = 30 * time.Second
	blocksLimit      = 60 * time.Second
)

func TestMixedChannel_TwoFabricTwoFabgossip_SeeStateInfoHeights_ThenBlocksFlowBothWays(t *testing.T) {
	lib := fabgossipLib(t)
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("fabgossip library %s not built (cargo build --release first): %v", lib, err)
	}
	const channel = "mychannel"
	names := []string{"fabric0", "fabgossip0", "fabric1", "fabgossip1"}
	addrs := freeAddrs(t, len(names))
	var nodes []*peerProc
	for i, name := range names {
		id := newIdentity(t, org)
		boot := ringBootstrap(addrs, i)
		if i%2 == 0 {
			nodes = append(nodes, startFabricNode(t, fabricOpts{
				name: name, address: addrs[i], msp: org, id: id, bootstrap: boot,
				alive: aliveInterval, expiration: aliveExpiration,
			}))
		} else {
			nodes = append(nodes, startFabgossipPeer(t, fabgossipOpts{
				name: name, address: addrs[i], msp: org, id: id, bootstrap: boot,
				alive: aliveInterval, expiration: aliveExpiration,
			}))
		}
	}
	fabric0, fabgossip0 := nodes[0], nodes[1]
	fabricNodes := []*peerProc{nodes[0], nodes[2]}
	fabgossipPeers := []*peerProc{nodes[1], nodes[3]}
	waitForViews(t, "channel test: full membership view", nodes, nodes, nil, org, fullViewLimit)

	for _, n := range nodes {
		if err := n.join(channel, joinSpec{Sequence: 1, Members: []string{org}}); err != nil {
			t.Fatal(err)
		}
	}
	// Distinct heights, so that each published value is seen for the right peer.
	heights := map[*peerProc]uint64{}
	for i, n := range nodes {
		heights[n] = uint64(3 + i)
		if err := n.publishHeight(channel, heights[n]); err != nil {
			t.Fatal(err)
		}
	}
	waitForChannelViews(t, "StateInfo heights 3..6 seen both ways", channel, nodes, heights, org, channelViewLimit)

	// Every node starts its ledger from the same genesis block, as peers joining
	// with `peer channel join -b` do; the published height becomes 1 everywhere.
	blocks := blockChain(t, channel, 21)
	for _, n := range nodes {
		if err := n.addBlock(channel, 0, blocks[0]); err != nil {
			t.Fatal(err)
		}
		heights[n] = 1
	}
	waitForLedgerHeights(t, "genesis committed everywhere", channel, nodes, nodes, 1, channelViewLimit)
	waitForChannelViews(t, "StateInfo height 1 seen both ways after genesis", channel, nodes, heights, org, channelViewLimit)

	start := time.Now()
	for seq := 1; seq <= 10; seq++ {
		if err := fabric0.addBlock(channel, uint64(seq), blocks[seq]); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("blocks 1..10 added at fabric0 in %s", time.Since(start).Round(time.Millisecond))
	waitForLedgerHeights(t, "blocks 1..10 from fabric0 committed by both fabgossip peers", channel,
		fabgossipPeers, nodes, 11, blocksLimit)
	waitForLedgerHeights(t, "blocks 1..10 from fabric0 committed by fabric1", channel,
		fabricNodes, nodes, 11, blocksLimit)
	t.Logf("blocks 1..10: all at height 11 %s after the first add", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	for seq := 11; seq <= 20; seq++ {
		if err := fabgossip0.addBlock(channel, uint64(seq), blocks[seq]); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("blocks 11..20 added at fabgossip0 in %s", time.Since(start).Round(time.Millisecond))
	waitForLedgerHeights(t, "blocks 11..20 from fabgossip0 committed by both Fabric nodes", channel,
		fabricNodes, nodes, 21, blocksLimit)
	waitForLedgerHeights(t, "blocks 11..20 from fabgossip0 committed by fabgossip1", channel,
		fabgossipPeers, nodes, 21, blocksLimit)
	t.Logf("blocks 11..20: all at height 21 %s after the first add", time.Since(start).Round(time.Millisecond))

	for _, n := range nodes {
		heights[n] = 21
	}
	waitForChannelViews(t, "StateInfo height 21 seen both ways", channel, nodes, heights, org, channelViewLimit)

	// One node of each kind leaves; the other kind stops counting it as a member.
	fabric1, fabgossip1 := nodes[2], nodes[3]
	for _, n := range []*peerProc{fabric1, fabgossip1} {
		if err := n.leave(channel); err != nil {
			t.Fatal(err)
		}
	}
	waitForLeavers(t, "a Fabric node and a fabgossip peer left, seen by both kinds", channel,
		[]*peerProc{fabric0, fabgossip0}, []*peerProc{fabric1, fabgossip1}, nodes, channelViewLimit)
	t.Logf("views after the leaves:%s", describeChannel([]*peerProc{fabric0, fabgossip0}, channel))

	for _, n := range nodes {
		n.shutdown()
	}
}

package interop

// Leader election in a mixed org: Fabric nodes running Fabric's own election
// service and fabgossip peers running theirs, on one channel, must elect one
// leader together, agree on it, and elect one again when it stops.

import (
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Election timers of the scenario, the same for both kinds. The membership sample
// is longer than the StateInfo interval, so that every peer sees the whole channel
// by its second sample and all end startup together; the election window covers
// the spread of the joins.
var mixedElectionTimers = electionTimers{
	startupGrace:     15 * time.Second,
	membershipSample: 4 * time.Second,
	leaderAlive:      3 * time.Second,
	duration:         2 * time.Second,
}

const (
	electionStateInfoInterval = time.Second
	// From the joins: startup (two samples, up to the grace period), one election.
	firstLeaderLimit = 60 * time.Second
	// From the leader's stop: expiration, up to two alive thresholds and an election
	// on either kind, with room for a loaded machine.
	failoverLimit = 60 * time.Second
	// How long one agreed leader must hold.
	leaderStableFor = 5 * time.Second
	// After a peer rejoins: past its startup (two samples) and one election.
	rejoinHold = 2*4*time.Second + 2*time.Second + 4*time.Second
)

func TestMixedElection_TwoFabricThreeFabgossip_OneAgreedLeader_ThenOneAfterItStops_ThenItRejoinsAsFollower(t *testing.T) {
	lib := fabgossipLib(t)
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("fabgossip library %s not built (cargo build --release first): %v", lib, err)
	}
	for _, lowest := range []string{"fabric", "fabgossip"} {
		t.Run("lowest_pki_id_"+lowest, func(t *testing.T) { runMixedElection(t, lowest) })
	}
}

// runMixedElection starts 2 Fabric nodes and 3 fabgossip peers with identities
// chosen so that the lowest PKI-ID belongs to a node of kind `lowest`.
func runMixedElection(t *testing.T, lowest string) {
	const channel = "mychannel"
	// Five identities sorted by PKI-ID (fixed-length lower-case hex sorts as the
	// bytes do, which is how both kinds compare PKI-IDs).
	ids := make([]identity, 5)
	for i := range ids {
		ids[i] = newIdentity(t, org)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].pkiID < ids[j].pkiID })
	kinds := []string{"fabric", "fabgossip", "fabgossip", "fabric", "fabgossip"}
	if lowest == "fabgossip" {
		kinds = []string{"fabgossip", "fabric", "fabgossip", "fabric", "fabgossip"}
	}
	addrs := freeAddrs(t, len(ids))
	tune := tuning{election: &mixedElectionTimers, stateInfoInterval: electionStateInfoInterval}
	names := make([]string, len(ids))
	counts := map[string]int{}
	for i := range ids {
		names[i] = fmt.Sprintf("%s%d", kinds[i], counts[kinds[i]])
		counts[kinds[i]]++
	}
	// start launches node i; a restart reuses its identity and address.
	start := func(i int) *peerProc {
		// Every node bootstraps through the first node of each kind.
		boot := []string{addrs[0], addrs[1]}
		if kinds[i] == "fabric" {
			return startFabricNode(t, fabricOpts{
				name: names[i], address: addrs[i], msp: org, id: ids[i], bootstrap: boot,
				alive: aliveInterval, expiration: aliveExpiration, tuning: tune,
			})
		}
		return startFabgossipPeer(t, fabgossipOpts{
			name: names[i], address: addrs[i], msp: org, id: ids[i], bootstrap: boot,
			alive: aliveInterval, expiration: aliveExpiration, tuning: tune,
		})
	}
	joinChannel := func(n *peerProc) {
		if err := n.join(channel, joinSpec{Sequence: 1, Members: []string{org}}); err != nil {
			t.Fatal(err)
		}
		// A peer publishes its ledger height when it initializes a channel; Fabric
		// publishes no StateInfo before it, so the node would be in no channel view.
		if err := n.publishHeight(channel, 1); err != nil {
			t.Fatal(err)
		}
	}
	var nodes []*peerProc
	for i := range ids {
		nodes = append(nodes, start(i))
	}
	t.Logf("lowest PKI-ID: %s (%s…)", nodes[0].name, nodes[0].pkiID[:12])
	waitForViews(t, "election test: full membership view", nodes, nodes, nil, org, fullViewLimit)

	joined := time.Now()
	for _, n := range nodes {
		joinChannel(n)
	}
	leader := waitForOneLeader(t, "first election", channel, nodes, firstLeaderLimit)
	t.Logf("first election: %s (%s) leads, %s after the joins", leader.name, leader.kind,
		time.Since(joined).Round(time.Millisecond))
	// Peers that start together elect the lowest PKI-ID: every peer collects every
	// proposal of the same round and only the lowest finds none lower than its own.
	if leader != nodes[0] {
		t.Fatalf("first election: %s leads, want the lowest PKI-ID %s%s", leader.name, nodes[0].name,
			describeLeadership(nodes, channel))
	}
	holdOneLeader(t, "first leader holds", channel, nodes, leader, leaderStableFor)

	stopped := time.Now()
	leader.shutdown()
	rest := make([]*peerProc, 0, len(nodes)-1)
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	next := waitForOneLeader(t, "election after the leader stopped", channel, rest, failoverLimit)
	t.Logf("after %s stopped: %s (%s) leads, %s later", leader.name, next.name, next.kind,
		time.Since(stopped).Round(time.Millisecond))
	holdOneLeader(t, "second leader holds", channel, rest, next, leaderStableFor)

	// The old leader comes back with its (lowest) PKI-ID. It hears the sitting
	// leader's declarations before its startup ends, so it follows: a leader is not
	// displaced by a lower PKI-ID that did not declare.
	back := start(0)
	all := append([]*peerProc{back}, rest...)
	waitForViews(t, "restarted "+back.name+" in every view", all, all, nil, org, fullViewLimit)
	joinChannel(back)
	holdOneLeader(t, "sitting leader holds after "+back.name+" rejoined", channel, all, next, rejoinHold)
	t.Logf("%s rejoined and follows %s", back.name, next.name)

	for _, n := range all {
		n.shutdown()
	}
}

// isLeader asks one node whether it leads the channel.
func (p *peerProc) isLeader(channel string) (bool, error) {
	ev, err := p.ask("is_leader "+channel, "is_leader")
	return ev.Leader, err
}

// leaders asks every node and returns those that say they lead.
func leaders(t *testing.T, what, channel string, nodes []*peerProc) []*peerProc {
	t.Helper()
	var out []*peerProc
	for _, n := range nodes {
		l, err := n.isLeader(channel)
		if err != nil {
			t.Fatalf("%s: %v\nstderr tail:\n%s", what, err, n.stderr)
		}
		if l {
			out = append(out, n)
		}
	}
	return out
}

func names(ps []*peerProc) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.name)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// describeLeadership is every node's answer and channel view, for failure reports.
func describeLeadership(nodes []*peerProc, channel string) string {
	var b strings.Builder
	for _, n := range nodes {
		l, err := n.isLeader(channel)
		fmt.Fprintf(&b, "\n  %s (%s, %s…): leader=%t (err %v)", n.name, n.kind, n.pkiID[:12], l, err)
	}
	return b.String() + "\nviews:" + describeChannel(nodes, channel)
}

// waitForOneLeader polls until exactly one node says it leads and returns it.
func waitForOneLeader(t *testing.T, what, channel string, nodes []*peerProc, limit time.Duration) *peerProc {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last []*peerProc
	for {
		last = leaders(t, what, channel, nodes)
		if len(last) == 1 {
			return last[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not exactly one leader within %s; last leaders %s%s", what, limit, names(last),
				describeLeadership(nodes, channel))
		}
		time.Sleep(pollInterval)
	}
}

// holdOneLeader checks for `d` that `leader` stays the only node that says it leads.
func holdOneLeader(t *testing.T, what, channel string, nodes []*peerProc, leader *peerProc, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		got := leaders(t, what, channel, nodes)
		if len(got) != 1 || got[0] != leader {
			t.Fatalf("%s: leaders %s, want only %s%s", what, names(got), leader.name,
				describeLeadership(nodes, channel))
		}
		time.Sleep(pollInterval)
	}
}

// Two orgs on one channel, each of both kinds, elect one leader each: leadership
// messages stay in their org on both kinds. The lowest PKI-ID of all is made to
// be in Org2, so an Org1 peer that took Org2's declarations into account would
// step down and leave Org1 without a leader.
func TestMixedElection_TwoOrgsOfBothKinds_OneLeaderPerOrg_ThenAnotherWhenTheLeaderLeaves(t *testing.T) {
	lib := fabgossipLib(t)
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("fabgossip library %s not built (cargo build --release first): %v", lib, err)
	}
	const (
		channel = "mychannel"
		org2    = "Org2MSP"
	)
	org1IDs := []identity{newIdentity(t, org), newIdentity(t, org), newIdentity(t, org)}
	sort.Slice(org1IDs, func(i, j int) bool { return org1IDs[i].pkiID < org1IDs[j].pkiID })
	lowest1 := org1IDs[0].pkiID
	// Org2's lowest must be below every Org1 identity (about one draw in three).
	var org2IDs []identity
	for len(org2IDs) == 0 || org2IDs[0].pkiID > lowest1 {
		org2IDs = []identity{newIdentity(t, org2), newIdentity(t, org2)}
		sort.Slice(org2IDs, func(i, j int) bool { return org2IDs[i].pkiID < org2IDs[j].pkiID })
	}
	type spec struct {
		name, kind, msp string
		id              identity
	}
	// Org1's lowest PKI-ID is a fabgossip peer, Org2's (the lowest of all) a Fabric
	// node: each kind leads one org.
	specs := []spec{
		{"org1fabric0", "fabric", org, org1IDs[1]},
		{"org1fabgossip0", "fabgossip", org, org1IDs[0]},
		{"org1fabgossip1", "fabgossip", org, org1IDs[2]},
		{"org2fabric0", "fabric", org2, org2IDs[0]},
		{"org2fabgossip0", "fabgossip", org2, org2IDs[1]},
	}
	wantLeader := map[string]string{org: "org1fabgossip0", org2: "org2fabric0"}
	addrs := freeAddrs(t, len(specs))
	tune := tuning{election: &mixedElectionTimers, stateInfoInterval: electionStateInfoInterval,
		trusted: []string{org, org2}}
	// Each org bootstraps inside itself (Fabric refuses bootstrap peers of other
	// orgs); the orgs find each other through the channel's anchor peers.
	boot := map[string][]string{org: {addrs[0], addrs[1]}, org2: {addrs[3], addrs[4]}}
	var nodes []*peerProc
	byOrg := map[string][]*peerProc{}
	for i, sp := range specs {
		var n *peerProc
		if sp.kind == "fabric" {
			n = startFabricNode(t, fabricOpts{
				name: sp.name, address: addrs[i], msp: sp.msp, id: sp.id, bootstrap: boot[sp.msp],
				alive: aliveInterval, expiration: aliveExpiration, tuning: tune,
			})
		} else {
			n = startFabgossipPeer(t, fabgossipOpts{
				name: sp.name, address: addrs[i], msp: sp.msp, id: sp.id, bootstrap: boot[sp.msp],
				alive: aliveInterval, expiration: aliveExpiration, tuning: tune,
			})
		}
		nodes = append(nodes, n)
		byOrg[sp.msp] = append(byOrg[sp.msp], n)
	}
	anchors := []any{}
	for _, i := range []int{0, 3} {
		host, port := splitHostPort(t, addrs[i])
		anchors = append(anchors, map[string]any{"org": specs[i].msp, "host": host, "port": port})
	}
	for _, n := range nodes {
		if err := n.join(channel, joinSpec{Sequence: 1, Members: []string{org, org2}, AnchorPeers: anchors}); err != nil {
			t.Fatal(err)
		}
		if err := n.publishHeight(channel, 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []string{org, org2} {
		l := waitForOneLeader(t, o+": election", channel, byOrg[o], firstLeaderLimit)
		t.Logf("%s: %s (%s) leads", o, l.name, l.kind)
		if l.name != wantLeader[o] {
			t.Fatalf("%s: %s leads, want its lowest PKI-ID %s%s", o, l.name, wantLeader[o], describeLeadership(nodes, channel))
		}
	}
	// Across orgs: every node lists the four others in the channel.
	waitForChannelMembers(t, "both orgs in every channel view", channel, nodes, channelViewLimit)
	for _, o := range []string{org, org2} {
		l := waitForOneLeader(t, o+": one leader with both orgs in view", channel, byOrg[o], firstLeaderLimit)
		if l.name != wantLeader[o] {
			t.Fatalf("%s: %s leads once the other org is in view, want %s%s", o, l.name, wantLeader[o],
				describeLeadership(nodes, channel))
		}
		holdOneLeader(t, o+": leader holds beside the other org", channel, byOrg[o], l, leaderStableFor)
		t.Logf("%s: %s (%s) leads beside the other org", o, l.name, l.kind)
	}

	// Each leader leaves the channel while its process goes on: its org elects
	// another of its members (a leaver publishes left_channel and is no candidate).
	for _, o := range []string{org, org2} {
		var leaver *peerProc
		var stay []*peerProc
		for _, n := range byOrg[o] {
			if n.name == wantLeader[o] {
				leaver = n
			} else {
				stay = append(stay, n)
			}
		}
		left := time.Now()
		if err := leaver.leave(channel); err != nil {
			t.Fatal(err)
		}
		l := waitForOneLeader(t, o+": election after "+leaver.name+" left", channel, stay, failoverLimit)
		t.Logf("%s: %s (%s) left the channel, %s (%s) leads %s later", o, leaver.name, leaver.kind, l.name, l.kind,
			time.Since(left).Round(time.Millisecond))
		holdOneLeader(t, o+": leader holds after "+leaver.name+" left", channel, stay, l, leaderStableFor)
	}
	for _, n := range nodes {
		n.shutdown()
	}
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// waitForChannelMembers polls channel_peers until every node lists all the others.
func waitForChannelMembers(t *testing.T, what, channel string, nodes []*peerProc, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		missing := map[string][]string{}
		for _, n := range nodes {
			view, err := n.channelPeers(channel)
			if err != nil {
				t.Fatal(err)
			}
			listed := map[string]bool{}
			for _, r := range view {
				if !r.LeftChannel {
					listed[r.PKIID] = true
				}
			}
			for _, q := range nodes {
				if q != n && !listed[q.pkiID] {
					missing[n.name] = append(missing[n.name], q.name)
				}
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s: missing %v\nviews:%s", what, limit, missing, describeChannel(nodes, channel))
		}
		time.Sleep(pollInterval)
	}
}

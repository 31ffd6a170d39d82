package interop

// Identity exchange between the kinds through the identity pull (IDENTITY_MSG):
// a fabgossip peer A and a Fabric node C both know a hub B but never connect to
// each other, and their alive messages never carry the identity
// (publishCertPeriod 0). Each can then learn the other's identity only as a
// PeerIdentity pulled through B, and only with it can it verify the other's
// alive and StateInfo messages.

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Two pull hops at the 4 s default pullInterval, with room for a loaded machine.
const identityPullLimit = 60 * time.Second

func TestMixedIdentityPull_FabgossipAndFabricLearnEachOthersIdentityThroughAHub(t *testing.T) {
	lib := fabgossipLib(t)
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("fabgossip library %s not built (cargo build --release first): %v", lib, err)
	}
	for _, hub := range []string{"fabric", "fabgossip"} {
		t.Run("hub_"+hub, func(t *testing.T) { runIdentityPull(t, hub) })
	}
}

func runIdentityPull(t *testing.T, hubKind string) {
	const channel = "mychannel"
	// Listen addresses of A, B, C, and the addresses A and C publish, which nobody
	// listens on: neither can dial the other, B keeps the connections they opened.
	addrs := freeAddrs(t, 5)
	addrA, addrB, addrC, deadA, deadC := addrs[0], addrs[1], addrs[2], addrs[3], addrs[4]
	noCert := time.Duration(0)
	quiet := tuning{publishCertPeriod: &noCert, stateInfoInterval: time.Second}

	var hub *peerProc
	if hubKind == "fabric" {
		hub = startFabricNode(t, fabricOpts{
			name: "hubB", address: addrB, msp: org, id: newIdentity(t, org),
			alive: aliveInterval, expiration: aliveExpiration, tuning: quiet,
		})
	} else {
		hub = startFabgossipPeer(t, fabgossipOpts{
			name: "hubB", address: addrB, msp: org, id: newIdentity(t, org),
			alive: aliveInterval, expiration: aliveExpiration, tuning: quiet,
		})
	}
	hidden := quiet
	hidden.advertise = deadA
	a := startFabgossipPeer(t, fabgossipOpts{
		name: "fabgossipA", address: addrA, msp: org, id: newIdentity(t, org), bootstrap: []string{addrB},
		alive: aliveInterval, expiration: aliveExpiration, tuning: hidden,
	})
	hidden.advertise = deadC
	c := startFabricNode(t, fabricOpts{
		name: "fabricC", address: addrC, msp: org, id: newIdentity(t, org), bootstrap: []string{addrB},
		alive: aliveInterval, expiration: aliveExpiration, tuning: hidden,
	})
	nodes := []*peerProc{a, hub, c}
	for _, n := range nodes {
		if err := n.join(channel, joinSpec{Sequence: 1, Members: []string{org}}); err != nil {
			t.Fatal(err)
		}
		if err := n.publishHeight(channel, 1); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	deadline := start.Add(identityPullLimit)
	// A and C cannot dial each other, so each presumes the other dead at its first failed
	// send and takes it back at the next alive that B relays (Fabric's rule, on both
	// sides): each condition must hold at some poll, not all at the same poll.
	pending := map[string]bool{}
	first := true
	var problems []string
	for {
		current := identityPullProblems(t, a, c, channel)
		if first {
			for _, p := range current {
				pending[p] = true
			}
			first = false
		}
		held := map[string]bool{}
		for _, p := range current {
			held[p] = true
		}
		problems = problems[:0]
		for p := range pending {
			if held[p] {
				problems = append(problems, p)
			} else {
				delete(pending, p)
			}
		}
		if len(problems) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("identities not exchanged through %s within %s: %s\nviews:%s", hub.name, identityPullLimit,
				strings.Join(problems, "; "), describeChannel(nodes, channel))
		}
		time.Sleep(pollInterval)
	}
	t.Logf("hub %s (%s): A and C hold each other's identity and each verified the other's alive, %s after the joins",
		hub.name, hub.kind, time.Since(start).Round(time.Millisecond))

	// C's alive messages reached A before C's identity did: they carry none, so A
	// took the identity from elsewhere.
	refused, err := a.metricValue(`fabgossip_messages_dropped{reason="alive_unknown_identity"}`)
	if err != nil {
		t.Fatal(err)
	}
	if refused == 0 {
		t.Fatalf("fabgossipA refused no alive message for an unknown identity: fabricC's alive messages carried its identity or came after it")
	}
	t.Logf("fabgossipA refused %v alive messages of a then unknown identity before the pull brought it", refused)

	// The identities came by pull only if A and C never handshook with each other.
	ex, err := a.explain(c.pkiID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fabgossipA explains fabricC: %s", ex.raw)
	if ex.LastContact != nil && ex.LastContact.Outcome == "handshaken" {
		t.Fatalf("fabgossipA handshook with fabricC (%s): the identity may have come from the handshake", ex.raw)
	}
	for _, n := range nodes {
		n.shutdown()
	}
}

// identityPullProblems lists what is still missing: C's identity mapper holds
// A's identity, and each lists the other alive and as a channel member (which
// needs the other's identity to verify its alive and StateInfo messages).
func identityPullProblems(t *testing.T, a, c *peerProc, channel string) []string {
	t.Helper()
	var problems []string
	ids, err := c.identities()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, id := range ids {
		if id.PKIID == a.pkiID {
			found = id.Org == org
		}
	}
	if !found {
		problems = append(problems, "fabricC's identity mapper has no identity of fabgossipA with its org")
	}
	for _, pair := range [][2]*peerProc{{a, c}, {c, a}} {
		obs, other := pair[0], pair[1]
		view, err := obs.peers()
		if err != nil {
			t.Fatal(err)
		}
		alive := false
		for _, r := range view {
			if r.PKIID == other.pkiID && r.State == "alive" && r.Org == org {
				alive = true
			}
		}
		// A fabgossip observer presumes the unreachable other dead as soon as it
		// introduces itself after each relayed alive, faster than a poll can see it
		// alive: its membership holding the other as dead still proves it verified the
		// other's signed alive, which needed the pulled identity.
		heldDead := false
		if !alive && obs == a {
			ex, err := obs.explain(other.pkiID)
			if err != nil {
				t.Fatal(err)
			}
			heldDead = ex.Reason == "dead"
		}
		if !alive && !heldDead {
			problems = append(problems, fmt.Sprintf("%s does not list %s alive", obs.name, other.name))
		}
		members, err := obs.channelPeers(channel)
		if err != nil {
			t.Fatal(err)
		}
		member := false
		for _, r := range members {
			if r.PKIID == other.pkiID && !r.LeftChannel {
				member = true
			}
		}
		if !member && !heldDead {
			problems = append(problems, fmt.Sprintf("%s does not list %s in %s", obs.name, other.name, channel))
		}
	}
	return problems
}

// metricValue reads one sample (name with labels, as fg_metrics prints it) of a
// fabgossip peer's metrics.
func (p *peerProc) metricValue(sample string) (float64, error) {
	ev, err := p.ask("metrics", "metrics")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(ev.Text, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s: no sample %s in the metrics", p.name, sample)
}

// identities asks a Fabric node for the identities its identity mapper holds.
func (p *peerProc) identities() ([]identityRecord, error) {
	ev, err := p.ask("identities", "identities")
	return ev.Identities, err
}

// explanation is the part of a fabgossip peer's `explain` answer the tests read.
type explanation struct {
	Reason      string `json:"reason"`
	LastContact *struct {
		Outcome  string `json:"outcome"`
		Endpoint string `json:"endpoint"`
	} `json:"last_contact"`
	raw string
}

// explain asks a fabgossip peer why a peer is or is not in its view.
func (p *peerProc) explain(query string) (explanation, error) {
	ev, err := p.ask("explain "+query, "explain")
	if err != nil {
		return explanation{}, err
	}
	var ex explanation
	if err := json.Unmarshal(ev.Result, &ex); err != nil {
		return explanation{}, fmt.Errorf("%s: explain answer %s: %w", p.name, ev.Result, err)
	}
	ex.raw = string(ev.Result)
	return ex, nil
}

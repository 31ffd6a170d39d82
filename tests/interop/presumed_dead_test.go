package interop

// A killed peer in a mixed network with core.yaml's membership timers: Fabric reports a peer
// it cannot dial as presumed dead, and its membership drops the peer at once instead of
// waiting for the alive expiration. fabgossip peers must drop it no later than the Fabric
// nodes do.

import (
	"os"
	"testing"
	"time"
)

// core.yaml's defaults.
const (
	coreAliveInterval   = 5 * time.Second
	coreAliveExpiration = 25 * time.Second
)

// hardKill ends a process at once (SIGKILL): no shutdown, its sockets closed by the kernel.
func (p *peerProc) hardKill() {
	if p.stopped || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	p.stopped = true
}

// stateOf is how `observer` reports `target`: "alive", "dead", or "" when absent.
func stateOf(t *testing.T, observer, target *peerProc) string {
	t.Helper()
	view, err := observer.peers()
	if err != nil {
		t.Fatalf("%s: %v\nstderr tail:\n%s", observer.name, err, observer.stderr)
	}
	for _, r := range view {
		if r.PKIID == target.pkiID {
			return r.State
		}
	}
	return ""
}

func TestMixedCoreTimers_KilledPeerIsDroppedByFabgossipNoLaterThanByFabric(t *testing.T) {
	lib := fabgossipLib(t)
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("fabgossip library %s not built (cargo build --release first): %v", lib, err)
	}
	names := []string{"fabric0", "fabgossip0", "fabric1", "fabgossip1", "fabric2", "fabgossip2"}
	addrs := freeAddrs(t, len(names))
	var nodes []*peerProc
	for i, name := range names {
		id := newIdentity(t, org)
		boot := ringBootstrap(addrs, i)
		if i%2 == 0 {
			nodes = append(nodes, startFabricNode(t, fabricOpts{
				name: name, address: addrs[i], msp: org, id: id, bootstrap: boot,
				alive: coreAliveInterval, expiration: coreAliveExpiration,
			}))
		} else {
			nodes = append(nodes, startFabgossipPeer(t, fabgossipOpts{
				name: name, address: addrs[i], msp: org, id: id, bootstrap: boot,
				alive: coreAliveInterval, expiration: coreAliveExpiration,
			}))
		}
	}
	defer func() {
		for _, n := range nodes {
			n.kill()
		}
	}()
	waitForViews(t, "mixed full view with core.yaml timers", nodes, nodes, nil, org, 30*time.Second)

	// One of each kind is killed; the other four watch both.
	killed := []*peerProc{nodes[4], nodes[5]}
	observers := nodes[:4]
	start := time.Now()
	for _, k := range killed {
		k.hardKill()
	}
	seenDead := map[*peerProc]map[*peerProc]time.Duration{}
	for _, o := range observers {
		seenDead[o] = map[*peerProc]time.Duration{}
	}
	// Expiry would drop them at 25 s: stop looking just before, so only presumed-dead counts.
	limit := coreAliveExpiration - time.Second
	for {
		pending := 0
		for _, o := range observers {
			for _, k := range killed {
				if _, done := seenDead[o][k]; done {
					continue
				}
				if stateOf(t, o, k) == "dead" {
					seenDead[o][k] = time.Since(start)
				} else {
					pending++
				}
			}
		}
		if pending == 0 {
			break
		}
		if time.Since(start) > limit {
			for _, o := range observers {
				for _, k := range killed {
					if _, done := seenDead[o][k]; !done {
						t.Errorf("%s (%s) still sees %s alive %s after the kill", o.name, o.kind, k.name, limit)
					}
				}
			}
			t.FailNow()
		}
		time.Sleep(100 * time.Millisecond)
	}
	latest := map[string]time.Duration{}
	for _, o := range observers {
		for _, k := range killed {
			d := seenDead[o][k]
			t.Logf("%s (%s) saw %s dead after %s", o.name, o.kind, k.name, d.Round(10*time.Millisecond))
			if d > latest[o.kind] {
				latest[o.kind] = d
			}
		}
	}
	// Both kinds drop a peer at the first failed dial, which the next alive round brings:
	// fabgossip may trail Fabric by at most that one round.
	if latest["fabgossip"] > latest["fabric"]+coreAliveInterval {
		t.Errorf("fabgossip dropped the killed peers after %s, Fabric after %s", latest["fabgossip"], latest["fabric"])
	}
}

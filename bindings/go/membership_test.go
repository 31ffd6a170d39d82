package fabgossip

import (
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/fabgossip/fabgossip/bindings/go/identity"
)

var bothOrgs = []string{"Org1MSP", "Org2MSP"}

func TestFourGoPeersFormAFullMembershipView(t *testing.T) {
	peers := startNetwork(t, 4, 0x10, func(int) []string { return nil })
	waitFullView(t, peers, 45*time.Second)
	stats := peers[0].command("stats", "stats")
	if rss, _ := stats["rss_kb"].(float64); rss <= 0 {
		t.Errorf("stats: %v", stats)
	}
	if ev := peers[3].command("shutdown", "shutdown"); ev == nil {
		t.Fatal("no shutdown event")
	}
}

func TestGoHostCryptoPeerConvergesWithBuiltinPeers(t *testing.T) {
	// Peer 2 (Org1MSP, not an anchor) signs and verifies through the Go callbacks.
	peers := startNetwork(t, 4, 0x20, func(i int) []string {
		if i == 2 {
			return []string{"--crypto", "ed25519"}
		}
		return nil
	})
	// The Go provider computes the same PKI-ID the built-in identity would have.
	want, err := identity.NewEd25519FromHex("Org1MSP", seedHex(0x22), bothOrgs)
	if err != nil {
		t.Fatal(err)
	}
	if got := peers[2].pkiID(); got != hex.EncodeToString(want.PKIID()) {
		t.Fatalf("Go-crypto peer PKI-ID %s, want %s", got, hex.EncodeToString(want.PKIID()))
	}
	waitFullView(t, peers, 45*time.Second)
}

// A Go-crypto Org1MSP peer and a built-in Org3MSP peer, anchors of their orgs: they
// converge when the Go provider trusts Org3MSP, and never when it does not.
func TestGoHostCryptoAppliesItsTrustRules(t *testing.T) {
	for _, trustOrg3 := range []bool{true, false} {
		t.Run(fmt.Sprintf("trustOrg3=%v", trustOrg3), func(t *testing.T) {
			p0port, p1port := freePort(t), freePort(t)
			anchors := []anchor{{"127.0.0.1", p0port, "Org1MSP"}, {"127.0.0.1", p1port, "Org3MSP"}}
			trust := []string{"Org1MSP"}
			if trustOrg3 {
				trust = append(trust, "Org3MSP")
			}
			p0 := startPeer(t, "p0", peerConfig(t.TempDir(), "Org1MSP", p0port, nil, trust, seedHex(0x31), anchors...),
				"--crypto", "ed25519")
			p1 := startPeer(t, "p1", peerConfig(t.TempDir(), "Org3MSP", p1port, nil,
				[]string{"Org1MSP", "Org3MSP"}, seedHex(0x32), anchors...))
			// Trusted: wait (generously, the machine may be loaded) until p1 shows up.
			// Untrusted: give it many alive periods to show up wrongly.
			wait := 6 * time.Second
			if trustOrg3 {
				wait = 30 * time.Second
			}
			deadline := time.Now().Add(wait)
			for time.Now().Before(deadline) && !p0.alive()[p1.pkiID()] {
				time.Sleep(300 * time.Millisecond)
			}
			if seen := p0.alive()[p1.pkiID()]; seen != trustOrg3 {
				t.Fatalf("Org3MSP peer alive in the Go-crypto peer's view: %v, want %v", seen, trustOrg3)
			}
		})
	}
}

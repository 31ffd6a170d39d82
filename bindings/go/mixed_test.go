package fabgossip

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fabgossip/fabgossip/bindings/go/identity"
)

// A network of Org1MSP peers with X.509/ECDSA identities (the Go adapter) and Org2MSP
// peers with Ed25519 identities (Go callbacks): one view when every peer trusts both
// identity kinds, two separate org views when each trusts only its own kind.
func TestMixedX509AndEd25519Network(t *testing.T) {
	ca, err := identity.NewCA("Org1MSP")
	if err != nil {
		t.Fatal(err)
	}
	caPath := filepath.Join(t.TempDir(), "org1-ca.pem")
	if err := os.WriteFile(caPath, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	mspDir := func(t *testing.T, cn string) string {
		cert, key, err := ca.Issue(cn, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if os.WriteFile(filepath.Join(dir, "cert.pem"), cert, 0o600) != nil ||
			os.WriteFile(filepath.Join(dir, "key.pem"), key, 0o600) != nil {
			t.Fatal("writing MSP files")
		}
		return dir
	}
	for _, bothTrusted := range []bool{true, false} {
		name := map[bool]string{true: "both kinds trusted", false: "own kind only"}[bothTrusted]
		t.Run(name, func(t *testing.T) {
			peers := startNetwork(t, 4, 0x50, func(i int) []string {
				if i%2 == 0 { // Org1MSP: X.509
					args := []string{"--crypto", "x509", "--msp-dir", mspDir(t, "peer"), "--trust-ca", "Org1MSP=" + caPath}
					if bothTrusted {
						args = append(args, "--trust-ed25519", "Org2MSP")
					}
					return args
				}
				args := []string{"--crypto", "ed25519"} // Org2MSP: Ed25519
				if bothTrusted {
					args = append(args, "--trust-ca", "Org1MSP="+caPath)
				}
				return args
			})
			if bothTrusted {
				waitFullView(t, peers, 45*time.Second)
				return
			}
			// Each org converges on its own ...
			waitFullView(t, []*peerProcess{peers[0], peers[2]}, 45*time.Second)
			waitFullView(t, []*peerProcess{peers[1], peers[3]}, 45*time.Second)
			// ... and never admits the other kind.
			time.Sleep(3 * time.Second)
			for i, p := range peers {
				view := p.alive()
				for j, q := range peers {
					if i%2 != j%2 && view[q.pkiID()] {
						t.Errorf("peer %d sees peer %d of the untrusted identity kind", i, j)
					}
				}
			}
		})
	}
}

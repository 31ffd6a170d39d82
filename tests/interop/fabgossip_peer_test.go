package interop

// Launching fabgossip peers: the Python peer process over the C library.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repoRoot is the fabgossip checkout holding this module (tests/interop).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("repo root: %v", err)
	}
	return root
}

// fabgossipLib is the shared library the Python peer loads: $FABGOSSIP_LIB, or
// the release build in the checkout.
func fabgossipLib(t *testing.T) string {
	t.Helper()
	if lib := os.Getenv("FABGOSSIP_LIB"); lib != "" {
		return lib
	}
	return filepath.Join(repoRoot(t), "target", "release", "libfabgossip.so")
}

type fabgossipOpts struct {
	name, address, msp string
	id                 identity
	bootstrap          []string
	tls                bool
	alive, expiration  time.Duration
	tuning
}

// goDuration writes a duration the way core.yaml does ("500ms", "2.5s").
func goDuration(d time.Duration) string { return d.String() }

// peerConfigYAML renders the shared peer config for one fabgossip peer.
func peerConfigYAML(o fabgossipOpts, dataDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "peer:\n")
	fmt.Fprintf(&b, "  id: %s\n", o.name)
	fmt.Fprintf(&b, "  localMspId: %s\n", o.msp)
	fmt.Fprintf(&b, "  listenAddress: %s\n", o.address)
	fmt.Fprintf(&b, "  address: %s\n", o.published(o.address))
	fmt.Fprintf(&b, "  fileSystemPath: %q\n", dataDir)
	fmt.Fprintf(&b, "  tls:\n    enabled: %t\n    clientAuthRequired: false\n", o.tls)
	fmt.Fprintf(&b, "  gossip:\n")
	fmt.Fprintf(&b, "    bootstrap: %q\n", strings.Join(o.bootstrap, " "))
	fmt.Fprintf(&b, "    externalEndpoint: %s\n", o.published(o.address))
	fmt.Fprintf(&b, "    aliveTimeInterval: %s\n", goDuration(o.alive))
	fmt.Fprintf(&b, "    aliveExpirationTimeout: %s\n", goDuration(o.expiration))
	fmt.Fprintf(&b, "    reconnectInterval: %s\n", goDuration(o.expiration))
	if e := o.election; e != nil {
		fmt.Fprintf(&b, "    useLeaderElection: true\n    orgLeader: false\n    election:\n")
		fmt.Fprintf(&b, "      startupGracePeriod: %s\n", goDuration(e.startupGrace))
		fmt.Fprintf(&b, "      membershipSampleInterval: %s\n", goDuration(e.membershipSample))
		fmt.Fprintf(&b, "      leaderAliveThreshold: %s\n", goDuration(e.leaderAlive))
		fmt.Fprintf(&b, "      leaderElectionDuration: %s\n", goDuration(e.duration))
	}
	if o.publishCertPeriod != nil {
		fmt.Fprintf(&b, "    publishCertPeriod: %s\n", goDuration(*o.publishCertPeriod))
	}
	if o.stateInfoInterval > 0 {
		fmt.Fprintf(&b, "    publishStateInfoInterval: %s\n", goDuration(o.stateInfoInterval))
		fmt.Fprintf(&b, "    requestStateInfoInterval: %s\n", goDuration(o.stateInfoInterval))
	}
	if o.pushAckTimeout > 0 {
		fmt.Fprintf(&b, "    pvtData:\n      pushAckTimeout: %s\n", goDuration(o.pushAckTimeout))
	}
	fmt.Fprintf(&b, "fabgossip:\n")
	fmt.Fprintf(&b, "  trustedOrgs: [%s]\n", strings.Join(o.trustedOrgs(o.msp), ", "))
	fmt.Fprintf(&b, "  identitySeed: %q\n", o.id.seedHex)
	return b.String()
}

func startFabgossipPeer(t *testing.T, o fabgossipOpts) *peerProc {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "core.yaml")
	if err := os.WriteFile(cfg, []byte(peerConfigYAML(o, filepath.Join(dir, "data"))), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	root := repoRoot(t)
	cmd := exec.Command("python3", "-m", "fabgossip.peer", "--config", cfg)
	cmd.Env = append(os.Environ(),
		"PYTHONPATH="+filepath.Join(root, "bindings", "python"),
		"FABGOSSIP_LIB="+fabgossipLib(t),
	)
	return startProc(t, o.name, "fabgossip", cmd, o.id.pkiID, o.address)
}

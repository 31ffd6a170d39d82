package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseOptionsDefaultsFollowCoreYAML(t *testing.T) {
	o, err := parseOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.aliveInterval != 5*time.Second || o.aliveExpiration != 25*time.Second || o.reconnectInterval != 25*time.Second {
		t.Errorf("alive %s expiration %s reconnect %s, want 5s 25s 25s", o.aliveInterval, o.aliveExpiration, o.reconnectInterval)
	}
	if got := o.trusted(); len(got) != 1 || got[0] != "Org1MSP" {
		t.Errorf("trusted orgs %v, want [Org1MSP]", got)
	}
	if o.stateTransfer {
		t.Error("state transfer on by default; core.yaml (Fabric 2.2+) has peer.gossip.state.enabled false")
	}
	if o.leaderElection {
		t.Error("leader election on by default; core.yaml has peer.gossip.useLeaderElection false")
	}
	e := o.election
	if e.StartupGracePeriod != 15*time.Second || e.MembershipSampleInterval != time.Second ||
		e.LeaderAliveThreshold != 10*time.Second || e.LeaderElectionDuration != 5*time.Second {
		t.Errorf("election timers %+v, want Fabric's defaults 15s 1s 10s 5s", e)
	}
	if o.publishCertPeriod != 10*time.Second {
		t.Errorf("publishCertPeriod %s, want 10s", o.publishCertPeriod)
	}
	o, err = parseOptions([]string{"--state-transfer", "--alive-interval", "500ms", "--bootstrap", " 127.0.0.1:1 127.0.0.1:2 ", "--trusted-orgs", "Org1MSP, Org2MSP"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.stateTransfer || o.aliveExpiration != 2500*time.Millisecond || len(o.bootstrapPeers()) != 2 || len(o.trusted()) != 2 {
		t.Errorf("got expiration %s bootstrap %v trusted %v", o.aliveExpiration, o.bootstrapPeers(), o.trusted())
	}
}

func TestParseOptionsRejectsBadInputWithClearError(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--seed", "abcd"}, "--seed"},
		{[]string{"--seed", strings.Repeat("zz", 32)}, "--seed"},
		{[]string{"--bootstrap", "127.0.0.1"}, "--bootstrap"},
		{[]string{"--bootstrap", "127.0.0.1:0"}, "--bootstrap"},
		{[]string{"--external-endpoint", "host:port"}, "--external-endpoint"},
		{[]string{"--alive-interval", "1s", "--alive-expiration", "1s"}, "--alive-expiration"},
		{[]string{"--msp", ""}, "--msp"},
		{[]string{"stray"}, "unexpected"},
		{[]string{"--internal-endpoint", "127.0.0.1"}, "--internal-endpoint"},
		{[]string{"--publish-cert-period", "-1s"}, "--publish-cert-period"},
		{[]string{"--election-startup-grace", "0s"}, "--election-startup-grace"},
		{[]string{"--election-membership-sample", "0s"}, "--election-membership-sample"},
		{[]string{"--election-leader-alive", "-1s"}, "--election-leader-alive"},
		{[]string{"--election-duration", "0s"}, "--election-duration"},
	}
	for _, c := range cases {
		_, err := parseOptions(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %s", c.args, err, c.want)
		}
	}
}

package fabgossip

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// wantDetail fails unless err is an *Error with status st whose Detail contains part.
func wantDetail(t *testing.T, what string, err error, st Status, part string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status != st || !strings.Contains(e.Detail, part) {
		t.Fatalf("%s: got %v, want %s with detail containing %q", what, err, st, part)
	}
}

func TestChannelCallsSayWhyTheyFail(t *testing.T) {
	initT(t, localConfig(t, "Org1MSP"), nil)
	wantDetail(t, "height of a channel not joined", UpdateLedgerHeight("nochannel", 3),
		StatusNotFound, `channel "nochannel" is not joined`)
	wantDetail(t, "bad anchor port", JoinChannelJSON("ch",
		`{"sequence":1,"members":["Org1MSP"],"anchor_peers":[{"org":"Org1MSP","host":"h","port":70000}]}`),
		StatusInvalidArg, "anchor_peers[0].port")
	wantDetail(t, "unknown field", JoinChannelJSON("ch", `{"sequence":1,"members":["Org1MSP"],"seq":2}`),
		StatusInvalidArg, `unknown field "seq"`)
	wantDetail(t, "own org not a member", JoinChannel("ch", JoinMessage{Sequence: 1, Members: []string{"Org2MSP"}}),
		StatusInvalidArg, "Org1MSP is not a member")
	wantDetail(t, "empty channel name", LeaveChannel(""), StatusInvalidArg, "channel is NULL or empty")

	if err := JoinChannel("ch", JoinMessage{Sequence: 1, Members: []string{"Org1MSP"}}); err != nil {
		t.Fatal(err)
	}
	if err := UpdateLedgerHeight("ch", 1); err != nil {
		t.Fatal(err)
	}
	if err := UpdateChaincodes("ch", []Chaincode{{Name: "mycc", Version: "1.0"}}); err != nil {
		t.Fatal(err)
	}
	chain := testChain(1)
	wantDetail(t, "block far ahead", AddPayload("ch", 5000, chain[0]),
		StatusBusy, "block 5000 is too far ahead of the ledger height 0")
	wantDetail(t, "block of another number", AddPayload("ch", 0, testChain(2)[1]),
		StatusCrypto, "block 0 failed verification")
	// The default static leader has no election to yield.
	wantDetail(t, "yield without election", YieldLeadership("ch"), StatusNotFound, "no leader election")
	wantDetail(t, "yield on a channel not joined", YieldLeadership("other"), StatusNotFound, "not joined")
	if err := LeaveChannel("ch"); err != nil {
		t.Fatal(err)
	}
	mustShutdown(t)
	wantDetail(t, "after shutdown", LeaveChannel("ch"), StatusNotInitialized, "not running")
}

// electionConfig is localConfig with leader election on and short timers.
func electionConfig(t *testing.T) string {
	var cfg map[string]any
	if err := json.Unmarshal([]byte(localConfig(t, "Org1MSP")), &cfg); err != nil {
		t.Fatal(err)
	}
	g := cfg["peer"].(map[string]any)["gossip"].(map[string]any)
	g["useLeaderElection"] = true
	g["orgLeader"] = false
	g["election"] = map[string]any{
		"startupGracePeriod":       "300ms",
		"membershipSampleInterval": "100ms",
		"leaderAliveThreshold":     "2s",
		"leaderElectionDuration":   "300ms",
	}
	b, _ := json.Marshal(cfg)
	return string(b)
}

func TestYieldLeadershipStepsDownAndTheCallbackSaysSo(t *testing.T) {
	changes := make(chan bool, 16)
	var mu sync.Mutex
	var reentry []error
	if err := SetLeadershipCallback(func(channel string, leader bool) {
		mu.Lock()
		reentry = append(reentry, YieldLeadership(channel))
		mu.Unlock()
		changes <- leader
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { SetLeadershipCallback(nil) })
	initT(t, electionConfig(t), nil)
	if err := JoinChannel("ch", JoinMessage{Sequence: 1, Members: []string{"Org1MSP"}}); err != nil {
		t.Fatal(err)
	}
	// Alone in its org, the peer elects itself.
	select {
	case leader := <-changes:
		if !leader {
			t.Fatal("first change is a loss")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no leadership within 30s")
	}
	if err := YieldLeadership("ch"); err != nil {
		t.Fatal(err)
	}
	if lead, err := IsLeader("ch"); err != nil || lead {
		t.Fatalf("after yield: IsLeader = %v, %v", lead, err)
	}
	select {
	case leader := <-changes:
		if leader {
			t.Fatal("the change after a yield is not a loss")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the callback did not report the yield")
	}
	// Not leading: yielding again changes nothing.
	if err := YieldLeadership("ch"); err != nil {
		t.Fatal(err)
	}
	mustShutdown(t)
	mu.Lock()
	defer mu.Unlock()
	for _, err := range reentry {
		wantDetail(t, "yield inside the callback", err, StatusReentrant, "inside a library callback")
	}
}

func TestJoinWithTheGenesisBlock(t *testing.T) {
	initT(t, localConfig(t, "AlphaMSP"), nil)
	genesis, err := os.ReadFile("../../tests/channelconfig/genesis.block")
	if err != nil {
		t.Fatal(err)
	}
	wantDetail(t, "a block of another channel", JoinChannelWithBlock("another", genesis),
		StatusInvalidArg, `not "another"`)
	wantDetail(t, "not a block", JoinChannelWithBlock("fixturechannel", []byte{0x0a, 0x01}),
		StatusInvalidArg, "config block: block")
	if err := JoinChannelWithBlock("fixturechannel", genesis); err != nil {
		t.Fatal(err)
	}
	// Block 0 is committed without an orderer signature.
	deadline := time.Now().Add(20 * time.Second)
	for {
		h, err := LedgerHeight("fixturechannel")
		if err == nil && h == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("height %d (%v), want 1", h, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

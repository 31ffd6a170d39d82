package fabgossip

import (
	"errors"
	"sync"
	"testing"
)

type leadershipChange struct {
	channel string
	leader  bool
	reentry error
}

func TestIsLeaderAndLeadershipCallback(t *testing.T) {
	var mu sync.Mutex
	var seen []leadershipChange
	if err := SetLeadershipCallback(func(channel string, leader bool) {
		// Library calls inside a callback are refused.
		_, err := IsLeader(channel)
		mu.Lock()
		seen = append(seen, leadershipChange{channel, leader, err})
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { SetLeadershipCallback(nil) })

	if _, err := IsLeader("ch"); !errors.Is(err, &Error{Status: StatusNotInitialized}) {
		t.Fatalf("before Init: %v", err)
	}
	// The defaults: orgLeader on, no election, so every joined channel is led at once.
	initT(t, localConfig(t, "Org1MSP"), nil)
	if _, err := IsLeader("ch"); !errors.Is(err, &Error{Status: StatusNotFound}) {
		t.Fatalf("channel not joined: %v", err)
	}
	if _, err := IsLeader(""); !errors.Is(err, &Error{Status: StatusInvalidArg}) {
		t.Fatalf("empty channel: %v", err)
	}
	for _, ch := range []string{"ch1", "ch2"} {
		if err := JoinChannelJSON(ch, `{"sequence":1,"members":["Org1MSP"]}`); err != nil {
			t.Fatal(err)
		}
		if lead, err := IsLeader(ch); err != nil || !lead {
			t.Fatalf("IsLeader(%s) = %v, %v", ch, lead, err)
		}
	}
	mustShutdown(t)

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0].channel != "ch1" || seen[1].channel != "ch2" || !seen[0].leader || !seen[1].leader {
		t.Fatalf("changes: %+v", seen)
	}
	for _, c := range seen {
		if !errors.Is(c.reentry, &Error{Status: StatusReentrant}) {
			t.Fatalf("re-entry inside the callback: %v", c.reentry)
		}
	}
}

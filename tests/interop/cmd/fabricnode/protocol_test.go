package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// Refused channel commands answer an error line each and the loop goes on.
func TestChannelCommandsRefusedWithAnErrorLineEach(t *testing.T) {
	// No gossip node: every command below is refused before reaching it.
	chans := &channels{mcs: newEdCrypto(nil, []string{"Org1MSP"}), joined: map[string]*joinedChannel{}}
	in := strings.Join([]string{
		"height mychannel 3",
		"height mychannel x",
		"ledger_height mychannel",
		"channel_peers mychannel",
		"is_leader mychannel",
		"is_leader",
		"leave mychannel",
		"add_block mychannel 1 zz",
		"add_block mychannel 1 0a00",
		"join mychannel {\"members\":[]}",
		"join",
		"bogus",
		"shutdown",
		"height never-read 1",
	}, "\n")
	var out bytes.Buffer
	serveCommands(strings.NewReader(in), &eventWriter{out: &out}, nil, chans)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"channel mychannel not joined",
		"usage: height",
		"channel mychannel not joined",
		"channel mychannel not joined",
		"channel mychannel not joined",
		"missing channel",
		"channel mychannel not joined",
		"block is not hex",
		"differs from claimed sequence 1",
		"no members",
		"missing channel",
		"unknown command",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d answers, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, line := range lines {
		var ev simpleEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %d not JSON: %q", i, line)
		}
		if ev.Event != "error" || !strings.Contains(ev.Message, want[i]) {
			t.Errorf("answer %d = %s, want an error containing %q", i, line, want[i])
		}
	}
}

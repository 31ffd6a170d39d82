package main

import (
	"strings"
	"testing"

	"github.com/hyperledger/fabric/gossip/api"
)

func TestParseJoinTakesMembersAndAnchorPeersPerOrg(t *testing.T) {
	m, err := parseJoin(`{"sequence":2,"members":["Org1MSP","Org2MSP"],"anchor_peers":[{"org":"Org2MSP","host":"127.0.0.1","port":7051}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if m.SequenceNumber() != 2 || len(m.Members()) != 2 || string(m.Members()[1]) != "Org2MSP" {
		t.Fatalf("parsed %+v", m.j)
	}
	if a := m.AnchorPeersOf(api.OrgIdentityType("Org2MSP")); len(a) != 1 || a[0].Host != "127.0.0.1" || a[0].Port != 7051 {
		t.Fatalf("anchor peers of Org2MSP: %+v", a)
	}
	if a := m.AnchorPeersOf(api.OrgIdentityType("Org1MSP")); len(a) != 0 {
		t.Fatalf("anchor peers of Org1MSP: %+v", a)
	}
	for text, want := range map[string]string{
		`{"sequence":1,"members":[]}`: "no members",
		`{"sequence":1,"members":["A"],"anchor_peers":[{"org":"A","host":"h","port":0}]}`: "port in 1..65535",
		`{"sequence":1,"members":["A"],"extra":1}`:                                        "unknown field",
		`not json`: "join json",
	} {
		if _, err := parseJoin(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseJoin(%s) = %v, want error containing %q", text, err, want)
		}
	}
}

func TestParseAddBlockChecksItsThreeWords(t *testing.T) {
	ch, seq, raw, err := parseAddBlock("mychannel 7 0a0b")
	if err != nil || ch != "mychannel" || seq != 7 || len(raw) != 2 {
		t.Fatalf("got %q %d %x %v", ch, seq, raw, err)
	}
	for _, args := range []string{"mychannel 7", "mychannel x 0a", "mychannel 7 zz", "mychannel -1 0a"} {
		if _, _, _, err := parseAddBlock(args); err == nil {
			t.Errorf("parseAddBlock(%q) accepted", args)
		}
	}
}

package interop

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/hyperledger/fabric-protos-go/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go/peer"
	"github.com/hyperledger/fabric-protos-go/transientstore"
	"github.com/hyperledger/fabric/common/policydsl"
)

// distributionReport is the part of fg_distribute_private_data's report the test reads.
type distributionReport struct {
	RequiredMet bool `json:"required_met"`
	Collections []struct {
		Collection  string `json:"collection"`
		RequiredMet bool   `json:"required_met"`
		Acked       []struct {
			PKIID  string `json:"pki_id"`
			Result string `json:"result"`
		} `json:"acked"`
		Failed []struct {
			PKIID  string `json:"pki_id"`
			Result string `json:"result"`
			Error  string `json:"error"`
		} `json:"failed"`
	} `json:"collections"`
}

// endorserPvtData is what a Fabric endorser hands to distribution: one collection of
// namespace "marbles" whose members are orgs, with its config.
func endorserPvtData(t *testing.T, collection string, orgs []string, required, max int32) []byte {
	t.Helper()
	cfg := &pb.CollectionConfig{Payload: &pb.CollectionConfig_StaticCollectionConfig{
		StaticCollectionConfig: &pb.StaticCollectionConfig{
			Name: collection,
			MemberOrgsPolicy: &pb.CollectionPolicyConfig{Payload: &pb.CollectionPolicyConfig_SignaturePolicy{
				SignaturePolicy: policydsl.SignedByAnyMember(orgs),
			}},
			RequiredPeerCount: required,
			MaximumPeerCount:  max,
			BlockToLive:       0,
		},
	}}
	b, err := proto.Marshal(&transientstore.TxPvtReadWriteSetWithConfigInfo{
		EndorsedAt: 3,
		PvtRwset: &rwset.TxPvtReadWriteSet{
			DataModel: rwset.TxReadWriteSet_KV,
			NsPvtRwset: []*rwset.NsPvtReadWriteSet{{
				Namespace: "marbles",
				CollectionPvtRwset: []*rwset.CollectionPvtReadWriteSet{{
					CollectionName: collection, Rwset: []byte("private writes of " + collection),
				}},
			}},
		},
		CollectionConfigs: map[string]*pb.CollectionConfigPackage{
			"marbles": {Config: []*pb.CollectionConfig{cfg}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A fabgossip peer distributes private data to Fabric gossip nodes and gets their
// Acknowledgements (Fabric's own ReceivedMessage.Ack): one acks, one NACKs with its error
// text, one has no handler and times out.
func TestPrivateData_FabgossipSendWithAck_GetsFabricAcks(t *testing.T) {
	lib := fabgossipLib(t)
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("fabgossip library %s not built (cargo build --release first): %v", lib, err)
	}
	const channel = "pvtchannel"
	const pushAckTimeout = 2 * time.Second
	names := []string{"fabgossip0", "fabric-ack", "fabric-nack", "fabric-silent"}
	modes := []string{"", privateDataModeAck, privateDataModeNack, privateDataModeIgnore}
	addrs := freeAddrs(t, len(names))
	var nodes []*peerProc
	for i, name := range names {
		id := newIdentity(t, org)
		boot := ringBootstrap(addrs, i)
		if i == 0 {
			nodes = append(nodes, startFabgossipPeer(t, fabgossipOpts{
				name: name, address: addrs[i], msp: org, id: id, bootstrap: boot,
				alive: aliveInterval, expiration: aliveExpiration,
				tuning: tuning{pushAckTimeout: pushAckTimeout},
			}))
		} else {
			nodes = append(nodes, startFabricNode(t, fabricOpts{
				name: name, address: addrs[i], msp: org, id: id, bootstrap: boot,
				alive: aliveInterval, expiration: aliveExpiration,
				tuning: tuning{privateData: modes[i]},
			}))
		}
	}
	waitForViews(t, "privdata test: full membership view", nodes, nodes, nil, org, fullViewLimit)
	heights := map[*peerProc]uint64{}
	for i, n := range nodes {
		if err := n.join(channel, joinSpec{Sequence: 1, Members: []string{org}}); err != nil {
			t.Fatal(err)
		}
		heights[n] = uint64(2 + i)
		if err := n.publishHeight(channel, heights[n]); err != nil {
			t.Fatal(err)
		}
	}
	waitForChannelViews(t, "every node sees the others in the channel", channel, nodes, heights, org, channelViewLimit)

	data := endorserPvtData(t, "col", []string{org}, 1, 3)
	start := time.Now()
	ev, err := nodes[0].ask(fmt.Sprintf("distribute %s tx-pvt-1 7 %s", channel, hex.EncodeToString(data)), "distributed")
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	var report distributionReport
	if err := json.Unmarshal(ev.Report, &report); err != nil {
		t.Fatalf("report %s: %v", ev.Report, err)
	}
	t.Logf("distribution took %s: %s", took.Round(time.Millisecond), ev.Report)
	if ev.Incomplete || !report.RequiredMet || len(report.Collections) != 1 {
		t.Fatalf("one ack was required and one Fabric node acks: %s", ev.Report)
	}
	col := report.Collections[0]
	if len(col.Acked) != 1 || col.Acked[0].PKIID != nodes[1].pkiID {
		t.Fatalf("the acking Fabric node's ack was not matched: %s", ev.Report)
	}
	results := map[string][2]string{}
	for _, f := range col.Failed {
		results[f.PKIID] = [2]string{f.Result, f.Error}
	}
	if got := results[nodes[2].pkiID]; got != [2]string{"nacked", nackText} {
		t.Fatalf("the NACKing node: got %v, want nacked %q (%s)", got, nackText, ev.Report)
	}
	if got := results[nodes[3].pkiID]; got[0] != "timeout" {
		t.Fatalf("the node without a handler: got %v, want timeout (%s)", got, ev.Report)
	}
	if took < pushAckTimeout {
		t.Fatalf("returned after %s, before pushAckTimeout %s", took, pushAckTimeout)
	}

	// What the Fabric nodes received is the endorser's data, as Fabric's handler reads it.
	for _, n := range nodes[1:3] {
		pd, err := n.next(commandTimeout, "private_data")
		if err != nil {
			t.Fatalf("%s: %v", n.name, err)
		}
		if pd.Channel != channel || pd.Collection != "col" || pd.TxID != "tx-pvt-1" ||
			pd.Height != 7 || pd.Rwset != "private writes of col" || pd.Configs != 1 || pd.PKIID != nodes[0].pkiID {
			t.Fatalf("%s received %+v", n.name, pd)
		}
	}
}

// The Fabric node's --private-data modes and its NACK text, as the test expects them.
const (
	privateDataModeIgnore = "ignore"
	privateDataModeAck    = "ack"
	privateDataModeNack   = "nack"
	nackText              = "transient store refused the private data"
)

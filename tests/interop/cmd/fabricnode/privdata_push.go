package main

// push_pvt: a private write set pushed the way Fabric's private-data distributor pushes it
// (gossip/privdata/distributor.go): an unsigned CHAN_ONLY PrivateDataMessage with a random
// nonce, sent with SendByCriteria{MaxPeers 1, MinAck 1, Timeout} to one chosen channel peer,
// which must acknowledge it within the timeout.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/golang/protobuf/proto"
	pg "github.com/hyperledger/fabric-protos-go/gossip"
	"github.com/hyperledger/fabric-protos-go/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go/peer"
	"github.com/hyperledger/fabric/common/policydsl"
	gcommon "github.com/hyperledger/fabric/gossip/common"
	"github.com/hyperledger/fabric/gossip/discovery"
	"github.com/hyperledger/fabric/gossip/gossip"
	"github.com/hyperledger/fabric/gossip/protoext"
	"github.com/hyperledger/fabric/gossip/util"
)

// pvtPush is the JSON argument of push_pvt.
type pvtPush struct {
	// Target PKI-ID, hex.
	Peer       string `json:"peer"`
	TxID       string `json:"tx_id"`
	Namespace  string `json:"namespace"`
	Collection string `json:"collection"`
	// Members of an explicit collection (its config travels with the push); empty for an
	// implicit collection, whose config the receiver derives.
	MemberOrgs []string `json:"member_orgs"`
	Value      string   `json:"value"`
	Height     uint64   `json:"height"`
	TimeoutMs  int64    `json:"timeout_ms"`
}

// pvtSentEvent answers push_pvt: message is SendByCriteria's error ("" on success).
type pvtSentEvent struct {
	Event   string `json:"event"`
	Channel string `json:"channel"`
	Message string `json:"message"`
	TookMs  int64  `json:"took_ms"`
}

func (c *channels) pushPvt(channel, text string) (pvtSentEvent, error) {
	var p pvtPush
	if err := json.Unmarshal([]byte(text), &p); err != nil {
		return pvtSentEvent{}, fmt.Errorf("push_pvt json: %w", err)
	}
	target, err := hex.DecodeString(p.Peer)
	if err != nil {
		return pvtSentEvent{}, fmt.Errorf("push_pvt peer: %w", err)
	}
	if _, err := c.get(channel); err != nil {
		return pvtSentEvent{}, err
	}
	rws, err := proto.Marshal(&kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "k", Value: []byte(p.Value)}}})
	if err != nil {
		return pvtSentEvent{}, err
	}
	var configs *peer.CollectionConfigPackage
	if len(p.MemberOrgs) > 0 {
		configs = &peer.CollectionConfigPackage{Config: []*peer.CollectionConfig{{
			Payload: &peer.CollectionConfig_StaticCollectionConfig{StaticCollectionConfig: &peer.StaticCollectionConfig{
				Name: p.Collection,
				MemberOrgsPolicy: &peer.CollectionPolicyConfig{
					Payload: &peer.CollectionPolicyConfig_SignaturePolicy{
						SignaturePolicy: policydsl.SignedByAnyMember(p.MemberOrgs),
					},
				},
				RequiredPeerCount: 1,
				MaximumPeerCount:  1,
			}},
		}}}
	}
	msg, err := protoext.NoopSign(&pg.GossipMessage{
		Channel: []byte(channel),
		Nonce:   util.RandomUInt64(),
		Tag:     pg.GossipMessage_CHAN_ONLY,
		Content: &pg.GossipMessage_PrivateData{PrivateData: &pg.PrivateDataMessage{
			Payload: &pg.PrivatePayload{
				Namespace:         p.Namespace,
				CollectionName:    p.Collection,
				TxId:              p.TxID,
				PrivateRwset:      rws,
				PrivateSimHeight:  p.Height,
				CollectionConfigs: configs,
			},
		}},
	})
	if err != nil {
		return pvtSentEvent{}, err
	}
	timeout := time.Duration(p.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	start := time.Now()
	sendErr := c.g.SendByCriteria(msg, gossip.SendCriteria{
		Timeout:  timeout,
		MinAck:   1,
		MaxPeers: 1,
		Channel:  gcommon.ChannelID(channel),
		IsEligible: func(m discovery.NetworkMember) bool {
			return bytes.Equal(m.PKIid, target)
		},
	})
	ev := pvtSentEvent{Event: "pvt_sent", Channel: channel, TookMs: time.Since(start).Milliseconds()}
	if sendErr != nil {
		ev.Message = sendErr.Error()
	}
	return ev, nil
}

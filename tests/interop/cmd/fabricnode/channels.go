package main

// Channels: join/leave through Fabric's JoinChan/LeaveChan, published ledger
// heights (UpdateLedgerHeight), the channel view (PeersOfChannel with the StateInfo
// properties), and blocks through Fabric's gossip state provider over an in-memory
// ledger, fed the way Fabric's deliverer feeds it (AddPayload, then Gossip of a
// DataMessage to the org).

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/golang/protobuf/proto"
	cb "github.com/hyperledger/fabric-protos-go/common"
	pg "github.com/hyperledger/fabric-protos-go/gossip"
	"github.com/hyperledger/fabric/common/flogging"
	"github.com/hyperledger/fabric/gossip/api"
	gcommon "github.com/hyperledger/fabric/gossip/common"
	"github.com/hyperledger/fabric/gossip/gossip"
	"github.com/hyperledger/fabric/gossip/metrics"
	"github.com/hyperledger/fabric/gossip/state"
)

// joinJSON is the `join` argument: {"sequence":1,"members":["Org1MSP"],
// "anchor_peers":[{"org":"Org1MSP","host":"127.0.0.1","port":7051}]}.
type joinJSON struct {
	Sequence    uint64       `json:"sequence"`
	Members     []string     `json:"members"`
	AnchorPeers []anchorJSON `json:"anchor_peers"`
}

type anchorJSON struct {
	Org  string `json:"org"`
	Host string `json:"host"`
	Port int    `json:"port"`
}

// joinMsg implements api.JoinChannelMessage from the parsed JSON.
type joinMsg struct{ j joinJSON }

func (m *joinMsg) SequenceNumber() uint64 { return m.j.Sequence }

func (m *joinMsg) Members() []api.OrgIdentityType {
	out := make([]api.OrgIdentityType, 0, len(m.j.Members))
	for _, o := range m.j.Members {
		out = append(out, api.OrgIdentityType(o))
	}
	return out
}

func (m *joinMsg) AnchorPeersOf(org api.OrgIdentityType) []api.AnchorPeer {
	var out []api.AnchorPeer
	for _, a := range m.j.AnchorPeers {
		if a.Org == string(org) {
			out = append(out, api.AnchorPeer{Host: a.Host, Port: a.Port})
		}
	}
	return out
}

func parseJoin(text string) (*joinMsg, error) {
	var j joinJSON
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("join json: %w", err)
	}
	if len(j.Members) == 0 {
		return nil, fmt.Errorf("join json: no members")
	}
	for _, a := range j.AnchorPeers {
		if a.Org == "" || a.Host == "" || a.Port < 1 || a.Port > 65535 {
			return nil, fmt.Errorf("join json: anchor peer %+v needs org, host and a port in 1..65535", a)
		}
	}
	return &joinMsg{j: j}, nil
}

// channelPeerEntry is one line of the `channel_peers` answer, as fabgossip peers give it.
type channelPeerEntry struct {
	PKIID            string          `json:"pki_id"`
	Endpoint         string          `json:"endpoint"`
	InternalEndpoint string          `json:"internal_endpoint"`
	Org              string          `json:"org"`
	LedgerHeight     uint64          `json:"ledger_height"`
	Chaincodes       []chaincodeJSON `json:"chaincodes"`
	LeftChannel      bool            `json:"left_channel"`
}

type chaincodeJSON struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// joinedChannel is one channel this node is in; ledger and provider exist once
// the genesis block was added.
type joinedChannel struct {
	ledger   *memLedger
	provider state.GossipStateProvider
	onCommit func(seq uint64) // set by `watch`, handed to the ledger once it exists
}

type channels struct {
	g       *gossip.Node
	mcs     *edCrypto
	metrics *metrics.GossipMetrics

	// stateTransfer is peer.gossip.state.enabled: Fabric's anti-entropy that pulls
	// missing blocks from peers with a higher StateInfo height (off by default since
	// Fabric 2.2, where every peer also takes blocks from the orderer).
	stateTransfer bool
	// elections runs Fabric's leader election per joined channel (nil: none).
	elections *leaderElections

	mu     sync.Mutex
	joined map[string]*joinedChannel
}

func newChannels(g *gossip.Node, mcs *edCrypto, m *metrics.GossipMetrics) *channels {
	return &channels{g: g, mcs: mcs, metrics: m, joined: map[string]*joinedChannel{}}
}

func (c *channels) join(channel, text string) error {
	msg, err := parseJoin(text)
	if err != nil {
		return err
	}
	c.mcs.setChannelOrgs(channel, msg.j.Members)
	c.mu.Lock()
	if _, ok := c.joined[channel]; !ok {
		c.joined[channel] = &joinedChannel{}
	}
	c.mu.Unlock()
	// A later join of the same channel is a config update: Fabric takes the new
	// members and anchor peers when the sequence grows.
	c.g.JoinChan(msg, gcommon.ChannelID(channel))
	// As Fabric's gossip service: the election starts once the channel is joined.
	c.elections.start(channel)
	return nil
}

func (c *channels) leave(channel string) error {
	c.mu.Lock()
	ch, ok := c.joined[channel]
	delete(c.joined, channel)
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("channel %s not joined", channel)
	}
	c.elections.stop(channel)
	if ch.provider != nil {
		ch.provider.Stop()
	}
	c.g.LeaveChan(gcommon.ChannelID(channel))
	return nil
}

func (c *channels) get(channel string) (*joinedChannel, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.joined[channel]
	if !ok {
		return nil, fmt.Errorf("channel %s not joined", channel)
	}
	return ch, nil
}

func (c *channels) updateHeight(channel string, height uint64) error {
	if _, err := c.get(channel); err != nil {
		return err
	}
	c.g.UpdateLedgerHeight(height, gcommon.ChannelID(channel))
	return nil
}

// peersOf lists the channel's alive peers with the StateInfo properties they
// published (Fabric lists only peers whose StateInfo it holds).
func (c *channels) peersOf(channel string) ([]channelPeerEntry, error) {
	if _, err := c.get(channel); err != nil {
		return nil, err
	}
	orgs := map[string]string{}
	for _, info := range c.g.IdentityInfo() {
		orgs[hex.EncodeToString(info.PKIId)] = string(info.Organization)
	}
	out := []channelPeerEntry{}
	for _, m := range c.g.PeersOfChannel(gcommon.ChannelID(channel)) {
		id := hex.EncodeToString(m.PKIid)
		e := channelPeerEntry{
			PKIID: id, Endpoint: m.Endpoint, InternalEndpoint: m.InternalEndpoint,
			Org: orgs[id], Chaincodes: []chaincodeJSON{},
		}
		if p := m.Properties; p != nil {
			e.LedgerHeight = p.LedgerHeight
			e.LeftChannel = p.LeftChannel
			for _, cc := range p.Chaincodes {
				e.Chaincodes = append(e.Chaincodes, chaincodeJSON{Name: cc.Name, Version: cc.Version})
			}
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PKIID < out[j].PKIID })
	return out, nil
}

// addBlock hands a block to the channel as Fabric's deliverer does. Block 0 on a
// channel without a ledger is its genesis block: it starts the ledger and the
// state provider (Fabric's state provider needs a ledger of height ≥ 1).
func (c *channels) addBlock(channel string, seq uint64, raw []byte) error {
	block := &cb.Block{}
	if err := proto.Unmarshal(raw, block); err != nil {
		return fmt.Errorf("block %d is not a common.Block: %w", seq, err)
	}
	// The deliverer verifies what the orderer sent before gossip sees it.
	if err := c.mcs.VerifyBlock(gcommon.ChannelID(channel), seq, block); err != nil {
		return err
	}
	if err := checkCommittable(block); err != nil {
		return err
	}
	c.mu.Lock()
	ch, ok := c.joined[channel]
	if !ok {
		c.mu.Unlock()
		return fmt.Errorf("channel %s not joined", channel)
	}
	if ch.ledger == nil {
		defer c.mu.Unlock()
		if seq != 0 {
			return fmt.Errorf("channel %s has no genesis block yet: add block 0 first", channel)
		}
		l, err := newMemLedger(channel, block)
		if err != nil {
			return err
		}
		mediator := &state.ServicesMediator{GossipAdapter: c.g, MCSAdapter: c.mcs}
		conf := state.GlobalConfig()
		conf.StateEnabled = c.stateTransfer
		// Blocking mode, as Fabric's gossip service runs it by default (NonBlockingCommitMode off).
		p := state.NewGossipStateProvider(flogging.MustGetLogger("gossip.state"), channel, mediator,
			l, c.metrics.StateMetrics, true, conf)
		if p == nil {
			return fmt.Errorf("Fabric's state provider for %s did not start (see stderr)", channel)
		}
		if ch.onCommit != nil {
			l.watch(ch.onCommit)
		}
		ch.ledger, ch.provider = l, p
		return nil
	}
	provider := ch.provider
	// AddPayload may wait for the state provider's buffer to drain: not under the lock.
	c.mu.Unlock()
	payload := &pg.Payload{Data: raw, SeqNum: seq}
	if err := provider.AddPayload(payload); err != nil {
		return fmt.Errorf("AddPayload: %w", err)
	}
	c.g.Gossip(&pg.GossipMessage{
		Nonce:   0,
		Tag:     pg.GossipMessage_CHAN_AND_ORG,
		Channel: []byte(channel),
		Content: &pg.GossipMessage_DataMsg{DataMsg: &pg.DataMessage{Payload: payload}},
	})
	return nil
}

// watch reports every block the channel's ledger commits from now on (the genesis
// block, which starts the ledger, is not a commit).
func (c *channels) watch(channel string, f func(seq uint64)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.joined[channel]
	if !ok {
		return fmt.Errorf("channel %s not joined", channel)
	}
	ch.onCommit = f
	if ch.ledger != nil {
		ch.ledger.watch(f)
	}
	return nil
}

func (c *channels) ledgerHeight(channel string) (uint64, error) {
	ch, err := c.get(channel)
	if err != nil {
		return 0, err
	}
	if ch.ledger == nil {
		return 0, nil
	}
	return ch.ledger.LedgerHeight()
}

// isLeader is `is_leader <channel>`: whether Fabric's election made this node the
// channel's leader.
func (c *channels) isLeader(channel string) (bool, error) {
	_, err := c.get(channel)
	return c.elections.isLeader(channel, err == nil)
}

func (c *channels) stop() {
	c.elections.stopAll()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.joined {
		if ch.provider != nil {
			ch.provider.Stop()
		}
	}
}

// parseAddBlock splits `<channel> <seq> <hex>`.
func parseAddBlock(args string) (string, uint64, []byte, error) {
	f := strings.Fields(args)
	if len(f) != 3 {
		return "", 0, nil, fmt.Errorf("usage: add_block <channel> <seq> <hex block>")
	}
	seq, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return "", 0, nil, fmt.Errorf("add_block: bad sequence %q", f[1])
	}
	raw, err := hex.DecodeString(f[2])
	if err != nil {
		return "", 0, nil, fmt.Errorf("add_block: block is not hex: %w", err)
	}
	return f[0], seq, raw, nil
}

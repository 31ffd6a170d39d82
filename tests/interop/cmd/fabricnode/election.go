package main

// Leader election: Fabric's own election service per joined channel, wired as
// Fabric's gossip service wires it (an adapter over the gossip node, the PKI-ID as
// the election ID, the peer.gossip.election.* timers). There is no delivery
// service behind it; leadership changes are only reported.

import (
	"fmt"
	"sync"

	gcommon "github.com/hyperledger/fabric/gossip/common"
	"github.com/hyperledger/fabric/gossip/election"
	"github.com/hyperledger/fabric/gossip/gossip"
	"github.com/hyperledger/fabric/gossip/metrics"
)

// leaderEvent answers `is_leader <channel>` (event "is_leader") and is written
// unsolicited at every leadership change (event "leadership"), as the fabgossip
// peer writes both.
type leaderEvent struct {
	Event   string `json:"event"`
	Channel string `json:"channel"`
	Leader  bool   `json:"leader"`
}

// leaderElections holds one election service per channel while elections are on
// (peer.gossip.useLeaderElection); off, the node never leads, as a Fabric peer
// with neither useLeaderElection nor orgLeader.
type leaderElections struct {
	g        *gossip.Node
	pkiID    gcommon.PKIidType
	metrics  *metrics.ElectionMetrics
	conf     election.ElectionConfig
	enabled  bool
	onChange func(channel string, leader bool)

	mu       sync.Mutex
	services map[string]runningElection
}

// runningElection is one channel's election service and its adapter (Fabric's
// service does not stop the adapter's message pump; stop does).
type runningElection struct {
	svc     election.LeaderElectionService
	adapter election.LeaderElectionAdapter
}

func newLeaderElections(g *gossip.Node, pkiID gcommon.PKIidType, m *metrics.ElectionMetrics,
	enabled bool, conf election.ElectionConfig, onChange func(string, bool)) *leaderElections {
	return &leaderElections{
		g: g, pkiID: pkiID, metrics: m, conf: conf, enabled: enabled, onChange: onChange,
		services: map[string]runningElection{},
	}
}

// start begins the channel's election once; a later join of the same channel (a
// config update) keeps the running one, as Fabric does.
func (e *leaderElections) start(channel string) {
	if e == nil || !e.enabled {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.services[channel]; ok {
		return
	}
	adapter := election.NewAdapter(e.g, e.pkiID, gcommon.ChannelID(channel), e.metrics)
	// Fabric calls the callback with the election's lock held: it must not call
	// back into the service, only report.
	callback := func(leader bool) {
		if e.onChange != nil {
			e.onChange(channel, leader)
		}
	}
	svc := election.NewLeaderElectionService(adapter, string(e.pkiID), callback, e.conf)
	e.services[channel] = runningElection{svc: svc, adapter: adapter}
}

// stop ends the channel's election (leave, shutdown). Fabric's Stop waits for the
// election's goroutines, so it runs outside the lock.
func (e *leaderElections) stop(channel string) {
	if e == nil {
		return
	}
	e.mu.Lock()
	run, ok := e.services[channel]
	delete(e.services, channel)
	e.mu.Unlock()
	if !ok {
		return
	}
	run.svc.Stop()
	if s, ok := run.adapter.(interface{ Stop() }); ok {
		s.Stop()
	}
}

func (e *leaderElections) stopAll() {
	if e == nil {
		return
	}
	e.mu.Lock()
	var channels []string
	for c := range e.services {
		channels = append(channels, c)
	}
	e.mu.Unlock()
	for _, c := range channels {
		e.stop(c)
	}
}

// isLeader answers for a joined channel; `joined` tells whether the channel is.
func (e *leaderElections) isLeader(channel string, joined bool) (bool, error) {
	if !joined {
		return false, fmt.Errorf("channel %s not joined", channel)
	}
	if e == nil || !e.enabled {
		return false, nil
	}
	e.mu.Lock()
	run, ok := e.services[channel]
	e.mu.Unlock()
	return ok && run.svc.IsLeader(), nil
}

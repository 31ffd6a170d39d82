package main

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/hyperledger/fabric/gossip/gossip"
	"github.com/hyperledger/fabric/gossip/protoext"
)

// Private data modes of --private-data: what the node does with a pushed
// PrivateDataMessage. A Fabric peer's state provider stores it in the transient store and
// acks it (an Acknowledgement with the message's nonce, or the storing error as a NACK).
const (
	privateDataIgnore = "ignore" // no handler: the sender times out
	privateDataAck    = "ack"    // acked as Fabric's handler does after storing
	privateDataNack   = "nack"   // answered with an error, as when storing fails
)

// nackText is the error a --private-data nack node answers with.
const nackText = "transient store refused the private data"

type privateDataEvent struct {
	Event      string `json:"event"`
	Channel    string `json:"channel"`
	Namespace  string `json:"namespace"`
	Collection string `json:"collection"`
	TxID       string `json:"tx_id"`
	Height     uint64 `json:"height"`
	From       string `json:"pki_id"`
	Rwset      string `json:"rwset"`
	Configs    int    `json:"configs"`
}

func checkPrivateDataMode(mode string) error {
	switch mode {
	case privateDataIgnore, privateDataAck, privateDataNack:
		return nil
	}
	return fmt.Errorf("--private-data must be ignore, ack or nack, not %q", mode)
}

// servePrivateData takes pushed PrivateDataMessages straight from comm (as Fabric's
// gossip service hands them to the channel's state provider), reports each as a
// `private_data` line and answers with Fabric's own Ack.
func servePrivateData(g *gossip.Node, mode string, w *eventWriter) {
	if mode == privateDataIgnore {
		return
	}
	_, msgs := g.Accept(func(m interface{}) bool {
		rm, ok := m.(protoext.ReceivedMessage)
		return ok && protoext.IsPrivateDataMsg(rm.GetGossipMessage().GossipMessage)
	}, true)
	go func() {
		for m := range msgs {
			gm := m.GetGossipMessage()
			p := gm.GetPrivateData().GetPayload()
			if p == nil {
				m.Ack(errors.New("malformed private data message: no payload"))
				continue
			}
			ev := privateDataEvent{
				Event: "private_data", Channel: string(gm.Channel), Namespace: p.Namespace,
				Collection: p.CollectionName, TxID: p.TxId, Height: p.PrivateSimHeight,
				From: hex.EncodeToString(m.GetConnectionInfo().ID), Rwset: string(p.PrivateRwset),
			}
			if c := p.GetCollectionConfigs(); c != nil {
				ev.Configs = len(c.Config)
			}
			w.emit(ev)
			if mode == privateDataNack {
				m.Ack(errors.New(nackText))
			} else {
				m.Ack(nil)
			}
		}
	}()
}

// Command configupdate writes the config block that follows a channel's config block when
// one application org's anchor peers are replaced: the update is computed by Fabric's
// fabric-config library, and the block carries the new config at the next sequence with the
// update as its last_update, chained to the input block, as the ordering service cuts it
// (without orderer signatures).
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/golang/protobuf/proto"
	"github.com/hyperledger/fabric-config/configtx"
	cb "github.com/hyperledger/fabric-protos-go/common"
	"github.com/hyperledger/fabric/protoutil"
)

func main() {
	in := flag.String("in", "", "the current config block")
	out := flag.String("out", "", "where to write the next config block")
	org := flag.String("org", "", "the application org's group name")
	anchor := flag.String("anchor", "", "the org's new anchor peer, host:port")
	flag.Parse()
	if err := run(*in, *out, *org, *anchor); err != nil {
		fmt.Fprintln(os.Stderr, "configupdate:", err)
		os.Exit(1)
	}
}

func run(in, out, orgName, anchor string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	prev, err := protoutil.UnmarshalBlock(raw)
	if err != nil {
		return err
	}
	env, err := protoutil.ExtractEnvelope(prev, 0)
	if err != nil {
		return err
	}
	payload, err := protoutil.UnmarshalPayload(env.Payload)
	if err != nil {
		return err
	}
	chdr, err := protoutil.UnmarshalChannelHeader(payload.Header.ChannelHeader)
	if err != nil {
		return err
	}
	current := &cb.ConfigEnvelope{}
	if err := proto.Unmarshal(payload.Data, current); err != nil {
		return err
	}

	host, portText, err := net.SplitHostPort(anchor)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return err
	}
	c := configtx.New(current.Config)
	org := c.Application().Organization(orgName)
	if org == nil {
		return fmt.Errorf("no application org %q", orgName)
	}
	old, err := org.AnchorPeers()
	if err != nil {
		return err
	}
	for _, a := range old {
		if err := org.RemoveAnchorPeer(a); err != nil {
			return err
		}
	}
	if err := org.AddAnchorPeer(configtx.Address{Host: host, Port: port}); err != nil {
		return err
	}
	update, err := c.ComputeMarshaledUpdate(chdr.ChannelId)
	if err != nil {
		return err
	}
	updateEnv, err := configtx.NewEnvelope(update)
	if err != nil {
		return err
	}

	// The orderer's validator gives the new config the next sequence and the modified
	// value the version of the update's write set.
	next := c.UpdatedConfig()
	next.Sequence = current.Config.Sequence + 1
	if v, ok := next.ChannelGroup.Groups["Application"].Groups[orgName].Values["AnchorPeers"]; ok {
		if was, ok := current.Config.ChannelGroup.Groups["Application"].Groups[orgName].Values["AnchorPeers"]; ok {
			v.Version = was.Version + 1
		}
	}

	data, err := proto.Marshal(&cb.ConfigEnvelope{Config: next, LastUpdate: updateEnv})
	if err != nil {
		return err
	}
	hdr := protoutil.MakePayloadHeader(
		protoutil.MakeChannelHeader(cb.HeaderType_CONFIG, 0, chdr.ChannelId, 0),
		protoutil.MakeSignatureHeader(nil, nil),
	)
	envBytes, err := proto.Marshal(&cb.Envelope{
		Payload: protoutil.MarshalOrPanic(&cb.Payload{Header: hdr, Data: data}),
	})
	if err != nil {
		return err
	}
	number := prev.Header.Number + 1
	block := protoutil.NewBlock(number, protoutil.BlockHeaderHash(prev.Header))
	block.Data.Data = [][]byte{envBytes}
	block.Header.DataHash = protoutil.BlockDataHash(block.Data)
	lastConfig := protoutil.MarshalOrPanic(&cb.LastConfig{Index: number})
	block.Metadata.Metadata[cb.BlockMetadataIndex_LAST_CONFIG] = protoutil.MarshalOrPanic(&cb.Metadata{Value: lastConfig})
	block.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES] = protoutil.MarshalOrPanic(&cb.Metadata{
		Value: protoutil.MarshalOrPanic(&cb.OrdererBlockMetadata{LastConfig: &cb.LastConfig{Index: number}}),
	})
	return os.WriteFile(out, protoutil.MarshalOrPanic(block), 0o644)
}

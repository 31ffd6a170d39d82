package interop

// Test blocks: real common.Blocks made with Fabric's protoutil: Fabric's data
// hash, headers chained by Fabric's header hash, the five metadata slots and a
// TRANSACTIONS_FILTER with one VALID entry per transaction.

import (
	"fmt"
	"testing"

	"github.com/golang/protobuf/proto"
	cb "github.com/hyperledger/fabric-protos-go/common"
	"github.com/hyperledger/fabric/protoutil"
)

// blockChain returns blocks 0..n-1 of channel, marshaled, each with one transaction.
func blockChain(t *testing.T, channel string, n int) [][]byte {
	t.Helper()
	var out [][]byte
	var prev []byte
	for i := 0; i < n; i++ {
		tx, err := proto.Marshal(&cb.Envelope{Payload: []byte(fmt.Sprintf("%s tx %d", channel, i))})
		if err != nil {
			t.Fatalf("marshal tx: %v", err)
		}
		b := &cb.Block{
			Header:   &cb.BlockHeader{Number: uint64(i), PreviousHash: prev},
			Data:     &cb.BlockData{Data: [][]byte{tx}},
			Metadata: &cb.BlockMetadata{Metadata: make([][]byte, int(cb.BlockMetadataIndex_COMMIT_HASH)+1)},
		}
		b.Header.DataHash = protoutil.BlockDataHash(b.Data)
		b.Metadata.Metadata[cb.BlockMetadataIndex_TRANSACTIONS_FILTER] = make([]byte, len(b.Data.Data))
		raw, err := proto.Marshal(b)
		if err != nil {
			t.Fatalf("marshal block %d: %v", i, err)
		}
		out = append(out, raw)
		prev = protoutil.BlockHeaderHash(b.Header)
	}
	return out
}

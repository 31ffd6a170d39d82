package main

import (
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go/common"
	"github.com/hyperledger/fabric/protoutil"
)

// testBlock makes block n over prev with txs transactions and a filter of filterLen entries.
func testBlock(n uint64, prev *cb.Block, txs, filterLen int) *cb.Block {
	b := &cb.Block{
		Header:   &cb.BlockHeader{Number: n},
		Data:     &cb.BlockData{},
		Metadata: &cb.BlockMetadata{Metadata: make([][]byte, 5)},
	}
	if prev != nil {
		b.Header.PreviousHash = protoutil.BlockHeaderHash(prev.Header)
	}
	for i := 0; i < txs; i++ {
		b.Data.Data = append(b.Data.Data, []byte{byte(n), byte(i)})
	}
	b.Header.DataHash = protoutil.BlockDataHash(b.Data)
	b.Metadata.Metadata[cb.BlockMetadataIndex_TRANSACTIONS_FILTER] = make([]byte, filterLen)
	return b
}

func TestMemLedgerCommitsInOrderOnTheChain(t *testing.T) {
	g := testBlock(0, nil, 1, 1)
	l, err := newMemLedger("ch", g)
	if err != nil {
		t.Fatal(err)
	}
	b1 := testBlock(1, g, 2, 2)
	if err := l.StoreBlock(testBlock(2, b1, 1, 1), nil); err == nil || !strings.Contains(err.Error(), "cannot commit block 2") {
		t.Fatalf("block 2 at height 1: %v", err)
	}
	if err := l.StoreBlock(testBlock(1, testBlock(0, nil, 3, 3), 1, 1), nil); err == nil || !strings.Contains(err.Error(), "previous hash") {
		t.Fatalf("block 1 off the chain: %v", err)
	}
	if err := l.StoreBlock(b1, nil); err != nil {
		t.Fatal(err)
	}
	if h, _ := l.LedgerHeight(); h != 2 {
		t.Fatalf("height %d, want 2", h)
	}
	got, _, err := l.GetPvtDataAndBlockByNum(1, protoutil.SignedData{})
	if err != nil || got != b1 {
		t.Fatalf("block 1 back: %v, %v", got, err)
	}
	if _, _, err := l.GetPvtDataAndBlockByNum(2, protoutil.SignedData{}); err == nil {
		t.Fatal("block 2 served before commit")
	}
}

func TestCheckCommittableRefusesWhatFabricsCommitPathCannotTake(t *testing.T) {
	if err := checkCommittable(testBlock(0, nil, 2, 1)); err == nil || !strings.Contains(err.Error(), "TRANSACTIONS_FILTER has 1 entries for 2") {
		t.Fatalf("short filter: %v", err)
	}
	bad := testBlock(0, nil, 1, 1)
	bad.Header.DataHash = []byte{1}
	if err := checkCommittable(bad); err == nil || !strings.Contains(err.Error(), "data hash") {
		t.Fatalf("bad data hash: %v", err)
	}
	noSlots := testBlock(0, nil, 1, 1)
	noSlots.Metadata.Metadata = noSlots.Metadata.Metadata[:2]
	if err := checkCommittable(noSlots); err == nil {
		t.Fatal("block without a TRANSACTIONS_FILTER slot accepted")
	}
	if _, err := newMemLedger("ch", testBlock(1, nil, 1, 1)); err == nil {
		t.Fatal("genesis numbered 1 accepted")
	}
}

func TestMemLedgerWatchReportsEachCommitOnce(t *testing.T) {
	g := testBlock(0, nil, 1, 1)
	l, err := newMemLedger("ch", g)
	if err != nil {
		t.Fatal(err)
	}
	b1 := testBlock(1, g, 1, 1)
	if err := l.StoreBlock(b1, nil); err != nil {
		t.Fatal(err)
	}
	var seen []uint64
	l.watch(func(seq uint64) { seen = append(seen, seq) })
	b2 := testBlock(2, b1, 1, 1)
	if err := l.StoreBlock(b2, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.StoreBlock(b2, nil); err == nil {
		t.Fatal("block 2 committed twice")
	}
	if len(seen) != 1 || seen[0] != 2 {
		t.Fatalf("watched commits %v, want [2] (block 1 came before watch, the duplicate failed)", seen)
	}
	l.watch(nil)
	if err := l.StoreBlock(testBlock(3, b2, 1, 1), nil); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 {
		t.Fatalf("commit reported after the watch stopped: %v", seen)
	}
	if a, b := monotonicNs(), monotonicNs(); a <= 0 || b < a {
		t.Fatalf("CLOCK_MONOTONIC readings %d then %d", a, b)
	}
}

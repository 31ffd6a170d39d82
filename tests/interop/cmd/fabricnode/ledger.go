package main

// An in-memory ledger for Fabric's gossip state provider: it commits blocks in
// order, checking what Fabric's block store and committer insist on (contiguous
// numbers, previous-hash chaining, a TRANSACTIONS_FILTER with one entry per
// transaction), and serves them back for state transfer. Private data is not kept.

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"

	cb "github.com/hyperledger/fabric-protos-go/common"
	"github.com/hyperledger/fabric-protos-go/transientstore"
	gutil "github.com/hyperledger/fabric/gossip/util"
	"github.com/hyperledger/fabric/protoutil"
)

type memLedger struct {
	channel string
	mu      sync.RWMutex
	blocks  []*cb.Block
	// onCommit, when set, is told of every block committed after the genesis block
	// (the `watch` command); called outside the lock.
	onCommit atomic.Pointer[func(seq uint64)]
}

// newMemLedger starts a channel's ledger from its genesis block, as a peer joining
// a channel with `peer channel join -b genesis.block` does.
func newMemLedger(channel string, genesis *cb.Block) (*memLedger, error) {
	if err := checkCommittable(genesis); err != nil {
		return nil, err
	}
	if genesis.Header.Number != 0 {
		return nil, fmt.Errorf("genesis block of %s has number %d, want 0", channel, genesis.Header.Number)
	}
	return &memLedger{channel: channel, blocks: []*cb.Block{genesis}}, nil
}

// checkCommittable is what a block needs before Fabric's commit path accepts it
// (Fabric's state provider panics when the commit fails, so the host's blocks are
// checked before they get there).
func checkCommittable(b *cb.Block) error {
	if b == nil || b.Header == nil || b.Data == nil {
		return fmt.Errorf("block has no header or no data")
	}
	if b.Metadata == nil || len(b.Metadata.Metadata) <= int(cb.BlockMetadataIndex_TRANSACTIONS_FILTER) {
		return fmt.Errorf("block %d has no TRANSACTIONS_FILTER metadata slot", b.Header.Number)
	}
	if got, want := len(b.Metadata.Metadata[cb.BlockMetadataIndex_TRANSACTIONS_FILTER]), len(b.Data.Data); got != want {
		return fmt.Errorf("block %d: TRANSACTIONS_FILTER has %d entries for %d transactions", b.Header.Number, got, want)
	}
	if !bytes.Equal(protoutil.BlockDataHash(b.Data), b.Header.DataHash) {
		return fmt.Errorf("block %d: data hash does not match its data", b.Header.Number)
	}
	return nil
}

func (l *memLedger) StoreBlock(b *cb.Block, _ gutil.PvtDataCollections) error {
	if err := checkCommittable(b); err != nil {
		return err
	}
	if err := l.append(b); err != nil {
		return err
	}
	if f := l.onCommit.Load(); f != nil {
		(*f)(b.Header.Number)
	}
	return nil
}

// append adds the next block after checking its number and previous-hash link.
func (l *memLedger) append(b *cb.Block) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	height := uint64(len(l.blocks))
	if b.Header.Number != height {
		return fmt.Errorf("ledger of %s at height %d cannot commit block %d", l.channel, height, b.Header.Number)
	}
	prev := protoutil.BlockHeaderHash(l.blocks[height-1].Header)
	if !bytes.Equal(b.Header.PreviousHash, prev) {
		return fmt.Errorf("block %d of %s: previous hash %x, want %x", b.Header.Number, l.channel, b.Header.PreviousHash, prev)
	}
	l.blocks = append(l.blocks, b)
	return nil
}

// watch makes every later commit call f (nil stops it).
func (l *memLedger) watch(f func(seq uint64)) {
	if f == nil {
		l.onCommit.Store(nil)
		return
	}
	l.onCommit.Store(&f)
}

// StorePvtData: no private data collections on this harness.
func (l *memLedger) StorePvtData(txid string, _ *transientstore.TxPvtReadWriteSetWithConfigInfo, _ uint64) error {
	return fmt.Errorf("private data of tx %s refused: this ledger keeps none", txid)
}

func (l *memLedger) GetPvtDataAndBlockByNum(seq uint64, _ protoutil.SignedData) (*cb.Block, gutil.PvtDataCollections, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if seq >= uint64(len(l.blocks)) {
		return nil, nil, fmt.Errorf("block %d of %s not committed (height %d)", seq, l.channel, len(l.blocks))
	}
	return l.blocks[seq], nil, nil
}

func (l *memLedger) LedgerHeight() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return uint64(len(l.blocks)), nil
}

func (l *memLedger) Close() {}

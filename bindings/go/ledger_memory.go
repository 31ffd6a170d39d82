package fabgossip

import (
	"fmt"
	"sync"
)

// MemoryLedger is a thread-safe in-memory Ledger: per channel, the blocks in order. It
// refuses a block that is not the next one.
type MemoryLedger struct {
	mu     sync.Mutex
	blocks map[string][][]byte
	pvt    map[string][][][]byte
}

// NewMemoryLedger is an empty MemoryLedger.
func NewMemoryLedger() *MemoryLedger {
	return &MemoryLedger{blocks: map[string][][]byte{}, pvt: map[string][][][]byte{}}
}

// Preload appends block as the host's own (e.g. a genesis block it already has), without
// the library.
func (m *MemoryLedger) Preload(channel string, block []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blocks[channel] = append(m.blocks[channel], append([]byte(nil), block...))
	m.pvt[channel] = append(m.pvt[channel], nil)
}

// Height implements Ledger.
func (m *MemoryLedger) Height(channel string) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(len(m.blocks[channel])), nil
}

// Commit implements Ledger.
func (m *MemoryLedger) Commit(channel string, seq uint64, block []byte, privateData [][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h := uint64(len(m.blocks[channel])); seq != h {
		return fmt.Errorf("block %d offered at height %d", seq, h)
	}
	m.blocks[channel] = append(m.blocks[channel], block)
	m.pvt[channel] = append(m.pvt[channel], privateData)
	return nil
}

// GetBlock implements Ledger.
func (m *MemoryLedger) GetBlock(channel string, seq uint64) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	chain := m.blocks[channel]
	if seq >= uint64(len(chain)) {
		return nil, ErrBlockNotFound
	}
	return chain[seq], nil
}

// PrivateData returns the private data committed with block seq of channel.
func (m *MemoryLedger) PrivateData(channel string, seq uint64) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if seq >= uint64(len(m.pvt[channel])) {
		return nil
	}
	return m.pvt[channel][seq]
}

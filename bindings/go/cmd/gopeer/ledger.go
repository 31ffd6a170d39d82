package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"

	fabgossip "github.com/fabgossip/fabgossip/bindings/go"
)

// faultyLedger is gopeer's Go ledger (--ledger go): a MemoryLedger whose commit of the
// blocks named by --ledger-fail returns an error, and by --ledger-panic panics, that many
// times first. Every commit attempt is counted.
type faultyLedger struct {
	*fabgossip.MemoryLedger
	mu       sync.Mutex
	fail     map[uint64]int
	panics   map[uint64]int
	calls    int
	failures int
	panicked int
	// watched: channels whose commits are reported as `committed` events (`watch CH`).
	watched map[string]bool
}

func newFaultyLedger(fail, panics string) (*faultyLedger, error) {
	f, err := parseCounts(fail)
	if err != nil {
		return nil, fmt.Errorf("--ledger-fail: %w", err)
	}
	p, err := parseCounts(panics)
	if err != nil {
		return nil, fmt.Errorf("--ledger-panic: %w", err)
	}
	return &faultyLedger{
		MemoryLedger: fabgossip.NewMemoryLedger(), fail: f, panics: p, watched: map[string]bool{},
	}, nil
}

// parseCounts reads "SEQ:N,SEQ:N" (N defaults to 1).
func parseCounts(text string) (map[uint64]int, error) {
	out := map[uint64]int{}
	for _, item := range strings.Split(text, ",") {
		if item == "" {
			continue
		}
		seqText, nText, found := strings.Cut(item, ":")
		seq, err := strconv.ParseUint(seqText, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad block number in %q", item)
		}
		n := 1
		if found {
			if n, err = strconv.Atoi(nText); err != nil || n < 0 {
				return nil, fmt.Errorf("bad count in %q", item)
			}
		}
		out[seq] = n
	}
	return out, nil
}

// Commit fails or panics as configured, else commits to memory.
func (l *faultyLedger) Commit(channel string, seq uint64, block []byte, pvt [][]byte) error {
	l.mu.Lock()
	l.calls++
	if l.panics[seq] > 0 {
		l.panics[seq]--
		l.panicked++
		l.mu.Unlock()
		panic(fmt.Sprintf("injected panic committing block %d", seq))
	}
	if l.fail[seq] > 0 {
		l.fail[seq]--
		l.failures++
		l.mu.Unlock()
		return fmt.Errorf("injected failure committing block %d", seq)
	}
	watched := l.watched[channel]
	l.mu.Unlock()
	if err := l.MemoryLedger.Commit(channel, seq, block, pvt); err != nil {
		return err
	}
	if watched {
		emit(map[string]any{"event": "committed", "channel": channel, "seq": seq, "t_ns": monotonicNs()})
	}
	return nil
}

// watch reports every later commit on channel.
func (l *faultyLedger) watch(channel string) {
	l.mu.Lock()
	l.watched[channel] = true
	l.mu.Unlock()
}

// ledgerBlocks is the `ledger_blocks` event: the SHA-256 of every block held, in order.
func (l *faultyLedger) ledgerBlocks(channel string) map[string]any {
	h, _ := l.Height(channel)
	sums := make([]string, 0, h)
	for seq := uint64(0); seq < h; seq++ {
		b, err := l.GetBlock(channel, seq)
		if err != nil {
			return map[string]any{"event": "error", "message": err.Error()}
		}
		s := sha256.Sum256(b)
		sums = append(sums, hex.EncodeToString(s[:]))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return map[string]any{
		"event": "ledger_blocks", "channel": channel, "height": h, "sha256": sums,
		"commit_calls": l.calls, "commit_failures": l.failures, "commit_panics": l.panicked,
		"callback_panics": fabgossip.CallbackPanics(),
	}
}

// channelCommand runs `join CH JSON`, `join_block CH HEX` (a config block), `add_block CH SEQ HEX`, `ledger_height CH`,
// `channel_peers CH`, and with a Go ledger `ledger_preload CH HEX`, `ledger_blocks CH` and
// `watch CH` (each later commit reported with its CLOCK_MONOTONIC time).
// It reports false for a word it does not know.
func channelCommand(line string, ledger *faultyLedger) bool {
	parts := strings.SplitN(line, " ", 3)
	word := parts[0]
	fail := func(err error) { emitError(word + ": " + err.Error()) }
	switch {
	case word == "join" && len(parts) == 3:
		// The library reads the JSON itself and names the field at fault.
		if err := fabgossip.JoinChannelJSON(parts[1], parts[2]); err != nil {
			fail(err)
		} else {
			emit(map[string]string{"event": "joined", "channel": parts[1]})
		}
	case word == "join_block" && len(parts) == 3:
		block, err := hex.DecodeString(parts[2])
		if err != nil {
			fail(fmt.Errorf("usage: join_block CHANNEL HEX"))
		} else if err := fabgossip.JoinChannelWithBlock(parts[1], block); err != nil {
			fail(err)
		} else {
			emit(map[string]string{"event": "joined", "channel": parts[1]})
		}
	case word == "add_block" && len(parts) == 3:
		seqText, hexBlock, _ := strings.Cut(parts[2], " ")
		seq, err1 := strconv.ParseUint(seqText, 10, 64)
		block, err2 := hex.DecodeString(hexBlock)
		if err1 != nil || err2 != nil {
			fail(fmt.Errorf("usage: add_block CHANNEL SEQ HEX"))
		} else if err := fabgossip.AddPayload(parts[1], seq, block); err != nil {
			fail(err)
		} else {
			emit(map[string]any{"event": "added", "channel": parts[1], "seq": seq})
		}
	case word == "ledger_height" && len(parts) == 2:
		h, err := fabgossip.LedgerHeight(parts[1])
		if err != nil {
			fail(err)
		} else {
			emit(map[string]any{"event": "ledger_height", "channel": parts[1], "height": h})
		}
	case word == "channel_peers" && len(parts) == 2:
		peers, err := fabgossip.PeersOfChannel(parts[1])
		if err != nil {
			fail(err)
		} else {
			if peers == nil {
				peers = []fabgossip.ChannelPeer{}
			}
			emit(map[string]any{"event": "channel_peers", "channel": parts[1], "peers": peers})
		}
	case word == "ledger_preload" && len(parts) == 3 && ledger != nil:
		block, err := hex.DecodeString(parts[2])
		if err != nil {
			fail(err)
			break
		}
		ledger.Preload(parts[1], block)
		h, _ := ledger.Height(parts[1])
		emit(map[string]any{"event": "preloaded", "channel": parts[1], "height": h})
	case word == "ledger_blocks" && len(parts) == 2 && ledger != nil:
		emit(ledger.ledgerBlocks(parts[1]))
	case word == "watch" && len(parts) == 2 && ledger != nil:
		ledger.watch(parts[1])
		emit(map[string]any{"event": "watching", "channel": parts[1]})
	default:
		return false
	}
	return true
}

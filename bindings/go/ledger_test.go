package fabgossip

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fabgossip/fabgossip/bindings/go/identity"
)

// testChain builds blocks 0..n-1 of a chain as the library's built-in VerifyBlock accepts
// them: the data hash over the entries, previous_hash = SHA-256 of the previous header's
// DER bytes, five metadata slots with a TRANSACTIONS_FILTER marking every entry valid.
func testChain(n int) [][]byte {
	varint := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	field := func(num uint64, data []byte) []byte {
		out := append(varint(num<<3|2), varint(uint64(len(data)))...)
		return append(out, data...)
	}
	var out [][]byte
	var prev []byte
	for i := 0; i < n; i++ {
		tx := []byte(fmt.Sprintf("tx %d", i))
		dataHash := sha256.Sum256(tx)
		var header []byte
		if i > 0 {
			header = append(varint(1<<3), varint(uint64(i))...)
		}
		if len(prev) > 0 {
			header = append(header, field(2, prev)...)
		}
		header = append(header, field(3, dataHash[:])...)
		var metadata []byte
		for _, slot := range [][]byte{nil, nil, {0}, nil, nil} {
			metadata = append(metadata, field(1, slot)...)
		}
		block := append(field(1, header), field(2, field(1, tx))...)
		block = append(block, field(3, metadata)...)
		out = append(out, block)
		h := sha256.Sum256(identity.HeaderBytes(uint64(i), prev, dataHash[:]))
		prev = h[:]
	}
	return out
}

// addBlock offers block seq at p, again while the library answers FG_STATUS_BUSY (the
// source's own commits lag behind).
func (p *peerProcess) addBlock(channel string, seq int, block []byte) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := io.WriteString(p.stdin, fmt.Sprintf("add_block %s %d %s\n", channel, seq, hex.EncodeToString(block))); err != nil {
			p.t.Fatalf("writing add_block: %v", err)
		}
		select {
		case ev, ok := <-p.events:
			if !ok {
				p.t.Fatal("peer exited during add_block")
			}
			if ev["event"] == "added" {
				return
			}
			msg, _ := ev["message"].(string)
			if ev["event"] != "error" || !strings.Contains(msg, "FG_STATUS_BUSY") || time.Now().After(deadline) {
				p.t.Fatalf("add_block %d: %v", seq, ev)
			}
			time.Sleep(100 * time.Millisecond)
		case <-time.After(20 * time.Second):
			p.t.Fatalf("no answer to add_block %d", seq)
		}
	}
}

func (p *peerProcess) ledgerHeight(channel string) uint64 {
	p.t.Helper()
	ev := p.command("ledger_height "+channel, "ledger_height")
	h, _ := ev["height"].(float64)
	return uint64(h)
}

// TestGoLedgersDisseminate100Blocks: 4 gopeer processes of one org, each keeping its
// ledger in Go behind the ledger callbacks, form a channel; one adds 100 blocks; every
// ledger ends with the same 100 blocks in order. Peer 3's commit panics for two blocks and
// peer 2's returns errors for one: each becomes an error status and the block is retried,
// never skipped or committed twice.
func TestGoLedgersDisseminate100Blocks(t *testing.T) {
	const channel, total = "goledger", 100
	ports := make([]int, 4)
	for i := range ports {
		ports[i] = freePort(t)
	}
	orgs := []string{"Org1MSP"}
	extra := map[int][]string{
		2: {"--ledger-fail", "20:2"},
		3: {"--ledger-panic", "7:2,50:1"},
	}
	var peers []*peerProcess
	for i, port := range ports {
		var boot []string
		if i > 0 {
			boot = []string{fmt.Sprintf("127.0.0.1:%d", ports[0])}
		}
		cfg := peerConfig(t.TempDir(), orgs[0], port, boot, orgs, seedHex(0x60+i))
		args := append([]string{"--ledger", "go"}, extra[i]...)
		peers = append(peers, startPeer(t, fmt.Sprintf("l%d", i), cfg, args...))
	}
	for _, p := range peers {
		p.command("join "+channel+` {"sequence":1,"members":["Org1MSP"]}`, "joined")
		if h := p.ledgerHeight(channel); h != 0 {
			t.Fatalf("height %d at join, the Go ledger is empty", h)
		}
	}
	if !waitFor(60*time.Second, func() bool {
		for _, p := range peers {
			ev := p.command("channel_peers "+channel, "channel_peers")
			if list, _ := ev["peers"].([]any); len(list) != 3 {
				return false
			}
		}
		return true
	}) {
		t.Fatal("the channel did not form: some peer sees fewer than 3 channel peers")
	}
	blocks := testChain(total)
	for seq, b := range blocks {
		peers[0].addBlock(channel, seq, b)
	}
	heights := make([]uint64, len(peers))
	if !waitFor(120*time.Second, func() bool {
		done := true
		for i, p := range peers {
			heights[i] = p.ledgerHeight(channel)
			done = done && heights[i] == total
		}
		return done
	}) {
		t.Fatalf("not every ledger reached %d blocks: %v", total, heights)
	}
	want := make([]string, total)
	for i, b := range blocks {
		s := sha256.Sum256(b)
		want[i] = hex.EncodeToString(s[:])
	}
	for i, p := range peers {
		ev := p.command("ledger_blocks "+channel, "ledger_blocks")
		sums, _ := ev["sha256"].([]any)
		if len(sums) != total {
			t.Fatalf("peer %d holds %d blocks", i, len(sums))
		}
		for seq, s := range sums {
			if s != want[seq] {
				t.Fatalf("peer %d block %d differs from the source's", i, seq)
			}
		}
		injected := map[int]int{2: 2, 3: 3}[i]
		calls, _ := ev["commit_calls"].(float64)
		if int(calls) != total+injected {
			t.Errorf("peer %d: %v commit calls, want %d (each block once, plus one per injected fault)", i, calls, total+injected)
		}
		if i == 3 {
			if n, _ := ev["commit_panics"].(float64); n != 3 {
				t.Errorf("peer 3: %v commit panics, want 3", n)
			}
			if n, _ := ev["callback_panics"].(float64); n < 3 {
				t.Errorf("peer 3: %v panics recovered, want at least 3", n)
			}
		}
	}
}

// countingLedger is a MemoryLedger that counts commits and fails the first failFirst.
type countingLedger struct {
	*MemoryLedger
	failFirst atomic.Int32
	commits   atomic.Int32
}

func (c *countingLedger) Commit(channel string, seq uint64, block []byte, pvt [][]byte) error {
	c.commits.Add(1)
	if c.failFirst.Add(-1) >= 0 {
		return &Error{Status: StatusIO, Detail: "disk full"}
	}
	return c.MemoryLedger.Commit(channel, seq, block, pvt)
}

// TestSetLedgerRulesInProcess: the ledger is read at join and committed through; it can be
// set only while no channel is joined; every table is released exactly once.
func TestSetLedgerRulesInProcess(t *testing.T) {
	const channel = "inproc"
	if err := SetLedger(NewMemoryLedger()); !errors.Is(err, &Error{Status: StatusNotInitialized}) {
		t.Fatalf("before Init: %v", err)
	}
	if n := LiveLedgers(); n != 0 {
		t.Fatalf("a refused ledger is released at once; %d live", n)
	}
	initT(t, localConfig(t, "Org1MSP"), nil)
	blocks := testChain(3)
	l := &countingLedger{MemoryLedger: NewMemoryLedger()}
	l.Preload(channel, blocks[0])
	l.failFirst.Store(2)
	if err := SetLedger(l); err != nil {
		t.Fatal(err)
	}
	if err := JoinChannel(channel, JoinMessage{Sequence: 1, Members: []string{"Org1MSP"}}); err != nil {
		t.Fatal(err)
	}
	if h, err := LedgerHeight(channel); err != nil || h != 1 {
		t.Fatalf("height %d (%v): want the Go ledger's 1", h, err)
	}
	busy := &Error{Status: StatusBusy}
	if err := SetLedger(NewMemoryLedger()); !errors.Is(err, busy) {
		t.Fatalf("SetLedger with a joined channel: %v", err)
	}
	if n := LiveLedgers(); n != 1 {
		t.Fatalf("%d live ledgers, want the installed one only", n)
	}
	for seq := 1; seq < 3; seq++ {
		if err := AddPayload(channel, uint64(seq), blocks[seq]); err != nil {
			t.Fatal(err)
		}
	}
	if !waitFor(30*time.Second, func() bool { h, _ := LedgerHeight(channel); return h == 3 }) {
		t.Fatal("blocks 1 and 2 not committed to the Go ledger")
	}
	if n := l.commits.Load(); n != 4 {
		t.Errorf("%d commit calls, want 4 (block 1 failed twice)", n)
	}
	for seq, b := range blocks {
		got, err := l.GetBlock(channel, uint64(seq))
		if err != nil || string(got) != string(b) {
			t.Fatalf("block %d: %v", seq, err)
		}
	}
	if err := LeaveChannel(channel); err != nil {
		t.Fatal(err)
	}
	if err := SetLedger(nil); err != nil {
		t.Fatal(err)
	}
	if n := LiveLedgers(); n != 0 {
		t.Fatalf("%d live ledgers after going back to the file ledger", n)
	}
	if err := SetLedger(NewMemoryLedger()); err != nil {
		t.Fatal(err)
	}
	mustShutdown(t)
	if n := LiveLedgers(); n != 0 {
		t.Fatalf("%d live ledgers after Shutdown", n)
	}
}

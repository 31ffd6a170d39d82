package main

// The in-process network benchmark (--inprocess-bench N): N Fabric gossip nodes in
// this one process, all in one channel; node 0 adds blocks at a fixed rate and the
// others time each commit. One process means one getrusage and one VmRSS for the
// whole network, which is what a per-process run cannot give without summing N
// processes' runtimes. The result is one JSON object on stdout; progress goes to stderr.

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/golang/protobuf/proto"
	cb "github.com/hyperledger/fabric-protos-go/common"
	"github.com/hyperledger/fabric/protoutil"
)

const (
	benchChannel = "mychannel"
	benchMSP     = "Org1MSP"
	// benchViewTimeout bounds each wait for every node to see every other: alive, then in the channel.
	benchViewTimeout = 120 * time.Second
)

// benchOptions are the --inprocess-bench flags; nodes 0 means the mode is off.
type benchOptions struct {
	nodes   int
	blocks  int
	rate    float64
	blockKB int
	settle  time.Duration
	timeout time.Duration
}

func (b *benchOptions) check() error {
	if b.nodes == 0 {
		return nil
	}
	switch {
	case b.nodes < 2:
		return fmt.Errorf("--inprocess-bench needs at least 2 nodes (a source and a receiver), got %d", b.nodes)
	case b.blocks < 1:
		return fmt.Errorf("--blocks must be at least 1")
	case !(b.rate > 0) || math.IsInf(b.rate, 0):
		return fmt.Errorf("--rate must be a positive number of blocks per second")
	case b.blockKB < 0:
		return fmt.Errorf("--block-kb must not be negative")
	case b.settle <= 0:
		// The idle windows divide by their length.
		return fmt.Errorf("--settle must be positive")
	case b.timeout < 0:
		return fmt.Errorf("--timeout must not be negative")
	}
	return nil
}

// benchResult is the one JSON object the mode prints.
type benchResult struct {
	Kind              string    `json:"kind"`
	N                 int       `json:"n"`
	Blocks            int       `json:"blocks"`
	Rate              float64   `json:"rate"`
	BlockBytes        int       `json:"block_bytes"`
	TLS               bool      `json:"tls"`
	ViewS             float64   `json:"view_s"`
	LatenciesMs       []float64 `json:"latencies_ms"`
	Missing           int       `json:"missing"`
	BlockPhaseS       float64   `json:"block_phase_s"`
	CPUBlockS         float64   `json:"cpu_block_s"`
	IdleBeforeCPUPerS float64   `json:"idle_before_cpu_per_s"`
	IdleAfterCPUPerS  float64   `json:"idle_after_cpu_per_s"`
	RSSKB             int64     `json:"rss_kb"`
	AddRate           float64   `json:"add_rate"`
}

// benchBlock builds a marshaled common.Block as bindings/python/fabgossip/blocks.py
// does (same fields, same bytes), so both implementations verify it alike: data hash
// over the transactions end to end, five metadata slots with a TRANSACTIONS_FILTER
// marking every transaction valid. It also returns the header for the next block's
// previous hash.
func benchBlock(number uint64, prev *cb.BlockHeader, txs [][]byte) ([]byte, *cb.BlockHeader, error) {
	b := &cb.Block{
		Header:   &cb.BlockHeader{Number: number},
		Data:     &cb.BlockData{Data: txs},
		Metadata: &cb.BlockMetadata{Metadata: [][]byte{{}, {}, make([]byte, len(txs)), {}, {}}},
	}
	if prev != nil {
		b.Header.PreviousHash = protoutil.BlockHeaderHash(prev)
	}
	b.Header.DataHash = protoutil.BlockDataHash(b.Data)
	raw, err := proto.Marshal(b)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal block %d: %w", number, err)
	}
	return raw, b.Header, nil
}

// benchBlocks is bench/dissemination.py's make_blocks: a genesis block holding
// "genesis", then blocks 1..count each holding one transaction of blockBytes bytes,
// "tx <seq> " repeated and cut.
func benchBlocks(count, blockBytes int) ([][]byte, error) {
	out := make([][]byte, 0, count+1)
	var prev *cb.BlockHeader
	for seq := 0; seq <= count; seq++ {
		tx := []byte("genesis")
		if seq > 0 {
			tx = bytes.Repeat([]byte(fmt.Sprintf("tx %d ", seq)), blockBytes)[:blockBytes]
		}
		raw, header, err := benchBlock(uint64(seq), prev, [][]byte{tx})
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
		prev = header
	}
	return out, nil
}

// percentile is the nearest-rank percentile of ascending values (0 when empty).
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	// The small slack keeps q·n/100 that lands on an integer from rounding up.
	rank := int(math.Ceil(q*float64(len(sorted))/100 - 1e-9))
	return sorted[max(0, min(len(sorted)-1, rank-1))]
}

// commitLog keeps each receiver's first commit time per block and says when every
// (receiver, block) pair is in.
type commitLog struct {
	mu   sync.Mutex
	at   [][]int64 // [receiver][seq]: CLOCK_MONOTONIC ns, 0 while not committed
	left int
	last int64
	done chan struct{}
}

func newCommitLog(receivers, blocks int) *commitLog {
	l := &commitLog{at: make([][]int64, receivers), left: receivers * blocks, done: make(chan struct{})}
	for r := range l.at {
		l.at[r] = make([]int64, blocks+1)
	}
	return l
}

func (l *commitLog) record(receiver int, seq uint64, t int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	row := l.at[receiver]
	if seq == 0 || seq >= uint64(len(row)) || row[seq] != 0 {
		return
	}
	row[seq] = t
	l.last = max(l.last, t)
	if l.left--; l.left == 0 {
		close(l.done)
	}
}

// latencies returns the sorted commit − add times in ms and how many pairs never committed.
func (l *commitLog) latencies(added []int64) ([]float64, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out, missing := []float64{}, 0
	for _, row := range l.at {
		for seq := 1; seq < len(row); seq++ {
			if row[seq] == 0 {
				missing++
				continue
			}
			out = append(out, float64(row[seq]-added[seq])/1e6)
		}
	}
	sort.Float64s(out)
	return out, missing
}

// delivered is how many blocks each receiver committed.
func (l *commitLog) delivered() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]int, len(l.at))
	for r, row := range l.at {
		for _, t := range row[1:] {
			if t != 0 {
				out[r]++
			}
		}
	}
	return out
}

type benchNode struct {
	node  *node
	chans *channels
}

// freePorts reserves n distinct loopback ports and releases them, so every node's
// bootstrap address is known before the nodes start.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve a loopback port: %w", err)
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// idleCPU sleeps d and returns the process's CPU seconds per second over it.
func idleCPU(d time.Duration) float64 {
	_, c0 := processStats()
	t0 := time.Now()
	time.Sleep(d)
	_, c1 := processStats()
	return (c1 - c0) / time.Since(t0).Seconds()
}

func benchLog(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "inprocess-bench: "+format+"\n", args...)
}

// stopBenchNodes stops the nodes side by side: Fabric's Stop waits for its
// goroutines, and one after another adds up over twenty nodes.
func stopBenchNodes(nodes []benchNode) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.chans.stop()
			n.node.stop()
		}()
	}
	wg.Wait()
}

// runInprocessBench runs the benchmark with o's timers, TLS and state-transfer
// settings for every node; o's listen, seed, bootstrap and endpoint flags are
// replaced per node.
func runInprocessBench(o *options) error {
	b := o.bench
	blocks, err := benchBlocks(b.blocks, b.blockKB*1024)
	if err != nil {
		return err
	}
	ports, err := freePorts(b.nodes)
	if err != nil {
		return err
	}
	var nodes []benchNode
	defer func() {
		benchLog("stopping %d nodes", len(nodes))
		stopBenchNodes(nodes)
	}()
	// Starts spread over one alive interval: Fabric sends alive messages on a timer
	// from each node's start, and nodes started in the same instant dial each other in
	// the same instant, which closes both connections (Fabric keeps one per peer) and
	// marks the peers dead for a while. Separate peers never start in lockstep.
	firstStart := time.Now()
	for i, port := range ports {
		time.Sleep(time.Until(firstStart.Add(time.Duration(i) * o.aliveInterval / time.Duration(b.nodes))))
		no := *o
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return fmt.Errorf("random seed: %w", err)
		}
		no.seedHex = hex.EncodeToString(seed)
		no.mspID, no.trustedOrgs = benchMSP, ""
		no.listen = fmt.Sprintf("127.0.0.1:%d", port)
		no.externalEndpoint, no.internalEndpoint = no.listen, ""
		// Node 0 bootstraps to node 1, every other node to node 0.
		boot := ports[0]
		if i == 0 {
			boot = ports[1]
		}
		no.bootstrap = fmt.Sprintf("127.0.0.1:%d", boot)
		n, err := startNode(&no)
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		chans := newChannels(n.gossip, n.mcs, n.metrics)
		chans.stateTransfer = o.stateTransfer
		chans.elections = newLeaderElections(n.gossip, n.pkiID, n.metrics.ElectionMetrics, o.leaderElection, o.election,
			func(channel string, leader bool) { benchLog("node %d: leader of %s: %v", i, channel, leader) })
		nodes = append(nodes, benchNode{node: n, chans: chans})
	}
	viewStart := time.Now()
	benchLog("%d nodes started in %.2f s (tls %v, state transfer %v)", b.nodes, time.Since(firstStart).Seconds(), o.tls, o.stateTransfer)

	// The full alive view first, as bench/dissemination.py waits for it: Fabric pushes a
	// channel's StateInfo once, as soon as it knows any member, and joined earlier the
	// rest of the view only comes by StateInfo pulls, tens of seconds later.
	err = waitAll(nodes, time.Now().Add(benchViewTimeout), "alive view", func(n benchNode) (int, error) {
		return len(n.node.gossip.Peers()), nil
	})
	if err != nil {
		return err
	}
	benchLog("full alive view after %.2f s (from the last start)", time.Since(viewStart).Seconds())
	join := fmt.Sprintf(`{"sequence":1,"members":[%q],"anchor_peers":[]}`, benchMSP)
	for i, n := range nodes {
		if err := n.chans.join(benchChannel, join); err != nil {
			return fmt.Errorf("node %d: join %s: %w", i, benchChannel, err)
		}
		// Every node joins with the channel's block 0, as a peer joins with the genesis block.
		if err := n.chans.addBlock(benchChannel, 0, blocks[0]); err != nil {
			return fmt.Errorf("node %d: genesis block: %w", i, err)
		}
	}
	err = waitAll(nodes, time.Now().Add(benchViewTimeout), "channel view of "+benchChannel, func(n benchNode) (int, error) {
		peers, err := n.chans.peersOf(benchChannel)
		return len(peers), err
	})
	if err != nil {
		return err
	}
	viewS := time.Since(viewStart).Seconds()
	benchLog("full channel view after %.2f s (from the last start)", viewS)

	receivers := nodes[1:]
	commits := newCommitLog(len(receivers), b.blocks)
	for r, n := range receivers {
		err := n.chans.watch(benchChannel, func(seq uint64) { commits.record(r, seq, monotonicNs()) })
		if err != nil {
			return fmt.Errorf("node %d: watch: %w", r+1, err)
		}
	}
	idleBefore := idleCPU(b.settle)
	benchLog("idle before: %.3f CPU s/s; adding %d blocks of %d bytes at %g/s", idleBefore, b.blocks, b.blockKB*1024, b.rate)

	// Paced on absolute deadlines, so a slow add does not shift the later ones.
	source := nodes[0].chans
	added := make([]int64, b.blocks+1)
	_, cpuStart := processStats()
	start := monotonicNs()
	for seq := 1; seq <= b.blocks; seq++ {
		due := start + int64(float64(seq-1)*1e9/b.rate)
		if wait := due - monotonicNs(); wait > 0 {
			time.Sleep(time.Duration(wait))
		}
		added[seq] = monotonicNs()
		if err := source.addBlock(benchChannel, uint64(seq), blocks[seq]); err != nil {
			return fmt.Errorf("node 0: add block %d: %w", seq, err)
		}
	}
	addRate := 0.0
	if span := added[b.blocks] - added[1]; b.blocks > 1 && span > 0 {
		// Over the add times themselves, as bench/dissemination.py measures it.
		addRate = float64(b.blocks-1) / (float64(span) / 1e9)
	}
	benchLog("added %d blocks at %.1f/s; waiting up to %s for the commits", b.blocks, addRate, b.timeout)

	timer := time.NewTimer(b.timeout)
	var end int64
	select {
	case <-commits.done:
		timer.Stop()
		commits.mu.Lock()
		end = commits.last
		commits.mu.Unlock()
	case <-timer.C:
		end = monotonicNs()
	}
	_, cpuEnd := processStats()
	latencies, missing := commits.latencies(added)
	if missing > 0 {
		benchLog("%d of %d deliveries missing after the timeout; committed per receiver: %v",
			missing, len(receivers)*b.blocks, commits.delivered())
	}
	if len(latencies) > 0 {
		benchLog("latency ms: p50 %.1f p99 %.1f max %.1f (%d deliveries)",
			percentile(latencies, 50), percentile(latencies, 99), latencies[len(latencies)-1], len(latencies))
	}

	idleAfter := idleCPU(b.settle)
	rss, _ := processStats()
	res := benchResult{
		Kind: "fabric", N: b.nodes, Blocks: b.blocks, Rate: b.rate, BlockBytes: b.blockKB * 1024, TLS: o.tls,
		ViewS: viewS, LatenciesMs: latencies, Missing: missing,
		BlockPhaseS: float64(end-added[1]) / 1e9, CPUBlockS: cpuEnd - cpuStart,
		IdleBeforeCPUPerS: idleBefore, IdleAfterCPUPerS: idleAfter, RSSKB: rss, AddRate: addRate,
	}
	out, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("result json: %w", err)
	}
	os.Stdout.Write(append(out, '\n'))
	return nil
}

// waitAll polls until count gives every node the N-1 others.
func waitAll(nodes []benchNode, deadline time.Time, what string, count func(benchNode) (int, error)) error {
	for {
		var short []string
		for i, n := range nodes {
			c, err := count(n)
			if err != nil {
				return fmt.Errorf("node %d: %s: %w", i, what, err)
			}
			if c < len(nodes)-1 {
				short = append(short, fmt.Sprintf("%d (%d)", i, c))
			}
		}
		if len(short) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s incomplete after %s: nodes (peers seen) %v, want %d each",
				what, benchViewTimeout, short, len(nodes)-1)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

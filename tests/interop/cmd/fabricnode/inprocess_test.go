package main

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/golang/protobuf/proto"
	cb "github.com/hyperledger/fabric-protos-go/common"
)

// Blocks 0 and 1 (1 KiB transaction) as bindings/python/fabgossip/blocks.py builds them
// for bench/dissemination.py's make_blocks(1, 1024).
const (
	pythonBlock0Hex = "" +
		"0a221a20aeebad4a796fcc2e15dc4c6061b45ed9b373f26adfc798ca7d2d8cc58182718e12090a0767656e657369731a" +
		"0b0a000a000a01000a000a00"
	pythonBlock1Hex = "" +
		"0a4608011220506a957292c63f0f85b774fc1feab49d1b04b6ea8b4c081d96c49041baf8296e1a2084078b2374444bb8" +
		"d5c4068c13a999e6954ecf15c04cfdf2935e9c619f2172dc1283080a8008747820312074782031207478203120747820" +
		"312074782031207478203120747820312074782031207478203120747820312074782031207478203120747820312074" +
		"782031207478203120747820312074782031207478203120747820312074782031207478203120747820312074782031" +
		"207478203120747820312074782031207478203120747820312074782031207478203120747820312074782031207478" +
		"203120747820312074782031207478203120747820312074782031207478203120747820312074782031207478203120" +
		"747820312074782031207478203120747820312074782031207478203120747820312074782031207478203120747820" +
		"312074782031207478203120747820312074782031207478203120747820312074782031207478203120747820312074" +
		"782031207478203120747820312074782031207478203120747820312074782031207478203120747820312074782031" +
		"207478203120747820312074782031207478203120747820312074782031207478203120747820312074782031207478" +
		"203120747820312074782031207478203120747820312074782031207478203120747820312074782031207478203120" +
		"747820312074782031207478203120747820312074782031207478203120747820312074782031207478203120747820" +
		"312074782031207478203120747820312074782031207478203120747820312074782031207478203120747820312074" +
		"782031207478203120747820312074782031207478203120747820312074782031207478203120747820312074782031" +
		"207478203120747820312074782031207478203120747820312074782031207478203120747820312074782031207478" +
		"203120747820312074782031207478203120747820312074782031207478203120747820312074782031207478203120" +
		"747820312074782031207478203120747820312074782031207478203120747820312074782031207478203120747820" +
		"312074782031207478203120747820312074782031207478203120747820312074782031207478203120747820312074" +
		"782031207478203120747820312074782031207478203120747820312074782031207478203120747820312074782031" +
		"207478203120747820312074782031207478203120747820312074782031207478203120747820312074782031207478" +
		"203120747820312074782031207478203120747820312074782031207478203120747820312074782031207478203120" +
		"747820312074782031207478203120747820312074782031207478203120747820312074782031207478203120747820" +
		"312074782031207478203120747820312074782031207478203120747820312074782031207478203120747820311a0b" +
		"0a000a000a01000a000a00"
)

func TestBenchBlocksMatchThePythonBlocks(t *testing.T) {
	blocks, err := benchBlocks(1, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 2 {
		t.Fatalf("%d blocks, want 2", len(blocks))
	}
	for i, want := range []string{pythonBlock0Hex, pythonBlock1Hex} {
		if got := hex.EncodeToString(blocks[i]); got != want {
			t.Errorf("block %d:\n got %s\nwant %s", i, got, want)
		}
	}
	// Fabric's commit path takes them: genesis starts the ledger, block 1 chains onto it.
	var parsed [2]*cb.Block
	for i := range parsed {
		parsed[i] = &cb.Block{}
		if err := proto.Unmarshal(blocks[i], parsed[i]); err != nil {
			t.Fatal(err)
		}
	}
	l, err := newMemLedger("ch", parsed[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := l.StoreBlock(parsed[1], nil); err != nil {
		t.Fatal(err)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("empty: %v", got)
	}
	values := make([]float64, 100)
	for i := range values {
		values[i] = float64(i + 1)
	}
	for _, c := range []struct{ q, want float64 }{{0, 1}, {1, 1}, {50, 50}, {99, 99}, {99.5, 100}, {100, 100}} {
		if got := percentile(values, c.q); got != c.want {
			t.Errorf("p%v of 1..100 = %v, want %v", c.q, got, c.want)
		}
	}
	if got := percentile([]float64{3, 7, 9}, 50); got != 7 {
		t.Errorf("p50 of 3 7 9 = %v, want 7", got)
	}
}

func TestCommitLogKeepsFirstCommitsAndCountsMissing(t *testing.T) {
	l := newCommitLog(2, 2)
	l.record(0, 1, 1_500_000)
	l.record(0, 1, 9_000_000) // a second commit of the same block is not a delivery
	l.record(0, 0, 1)         // genesis and blocks past the end are not counted
	l.record(0, 3, 1)
	l.record(1, 2, 4_000_000)
	lat, missing := l.latencies([]int64{0, 1_000_000, 2_000_000})
	if missing != 2 || len(lat) != 2 || lat[0] != 0.5 || lat[1] != 2 {
		t.Fatalf("latencies %v missing %d, want [0.5 2] and 2", lat, missing)
	}
	select {
	case <-l.done:
		t.Fatal("done before every delivery")
	default:
	}
	l.record(0, 2, 3_000_000)
	l.record(1, 1, 2_500_000)
	select {
	case <-l.done:
	case <-time.After(time.Second):
		t.Fatal("not done after every delivery")
	}
	if l.last != 4_000_000 {
		t.Errorf("last commit %d, want 4000000", l.last)
	}
}

func TestBenchOptions(t *testing.T) {
	o, err := parseOptions([]string{"--inprocess-bench", "4"})
	if err != nil {
		t.Fatal(err)
	}
	b := o.bench
	if b.nodes != 4 || b.blocks != 100 || b.rate != 100 || b.blockKB != 10 || b.settle != 2*time.Second || b.timeout != time.Minute {
		t.Errorf("defaults %+v", b)
	}
	if o, err := parseOptions(nil); err != nil || o.bench.nodes != 0 {
		t.Errorf("mode on without the flag: %+v %v", o.bench, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--inprocess-bench", "1"}, "at least 2 nodes"},
		{[]string{"--inprocess-bench", "-3"}, "at least 2 nodes"},
		{[]string{"--inprocess-bench", "4", "--blocks", "0"}, "--blocks"},
		{[]string{"--inprocess-bench", "4", "--rate", "0"}, "--rate"},
		{[]string{"--inprocess-bench", "4", "--block-kb", "-1"}, "--block-kb"},
		{[]string{"--inprocess-bench", "4", "--settle", "0s"}, "--settle"},
		{[]string{"--inprocess-bench", "4", "--timeout", "-1s"}, "--timeout"},
	} {
		if _, err := parseOptions(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %s", c.args, err, c.want)
		}
	}
}

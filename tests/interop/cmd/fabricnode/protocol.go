package main

// The shared peer process protocol: JSON lines on stdout, plain-word commands on stdin.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// eventWriter serialises JSON lines; stdout carries nothing else.
type eventWriter struct {
	mu  sync.Mutex
	out io.Writer
}

func (w *eventWriter) emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own fixed structs are marshaled; report rather than panic.
		b = []byte(fmt.Sprintf(`{"event":"error","message":%q}`, err.Error()))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.out.Write(append(b, '\n'))
}

type readyEvent struct {
	Event    string `json:"event"`
	PKIID    string `json:"pki_id"`
	Endpoint string `json:"endpoint"`
	Org      string `json:"org"`
}

type peersEvent struct {
	Event string      `json:"event"`
	Peers []peerEntry `json:"peers"`
}

type statsEvent struct {
	Event string  `json:"event"`
	RSSKB int64   `json:"rss_kb"`
	CPUS  float64 `json:"cpu_s"`
}

// identitiesEvent answers `identities`: every identity in Fabric's identity mapper.
type identitiesEvent struct {
	Event      string          `json:"event"`
	Identities []identityEntry `json:"identities"`
}

type simpleEvent struct {
	Event   string `json:"event"`
	Message string `json:"message,omitempty"`
}

type channelPeersEvent struct {
	Event   string             `json:"event"`
	Channel string             `json:"channel"`
	Peers   []channelPeerEntry `json:"peers"`
}

type channelEvent struct {
	Event   string  `json:"event"`
	Channel string  `json:"channel"`
	Height  *uint64 `json:"height,omitempty"`
	Seq     *uint64 `json:"seq,omitempty"`
}

// committedEvent reports one block commit (after `watch`); t_ns is CLOCK_MONOTONIC,
// one clock for every process on the machine, so the driver compares it across peers.
type committedEvent struct {
	Event   string `json:"event"`
	Channel string `json:"channel"`
	Seq     uint64 `json:"seq"`
	TNs     int64  `json:"t_ns"`
}

// serveCommands reads stdin until `shutdown` or EOF. Unknown words and refused
// commands get an error line and the loop goes on.
func serveCommands(in io.Reader, w *eventWriter, tracker *membershipTracker, chans *channels) {
	sc := bufio.NewScanner(in)
	// add_block carries a hex block on one line.
	sc.Buffer(make([]byte, 64<<10), maxMsgSize)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		word, args, _ := strings.Cut(line, " ")
		args = strings.TrimSpace(args)
		switch word {
		case "":
		case "peers":
			w.emit(peersEvent{Event: "peers", Peers: tracker.snapshot()})
		case "stats":
			rss, cpu := processStats()
			w.emit(statsEvent{Event: "stats", RSSKB: rss, CPUS: cpu})
		case "shutdown":
			return
		case "identities":
			w.emit(identitiesEvent{Event: "identities", Identities: tracker.identities()})
		case "join", "leave", "height", "channel_peers", "add_block", "ledger_height", "watch", "is_leader", "push_pvt":
			if err := channelCommand(w, chans, word, args); err != nil {
				w.emit(simpleEvent{Event: "error", Message: fmt.Sprintf("%s: %v", word, err)})
			}
		default:
			w.emit(simpleEvent{Event: "error", Message: fmt.Sprintf("unknown command %q", line)})
		}
	}
	if err := sc.Err(); err != nil {
		w.emit(simpleEvent{Event: "error", Message: fmt.Sprintf("reading commands: %v", err)})
	}
}

// channelCommand runs one channel command and emits its answer.
func channelCommand(w *eventWriter, chans *channels, word, args string) error {
	channel, rest, _ := strings.Cut(args, " ")
	rest = strings.TrimSpace(rest)
	if channel == "" {
		return fmt.Errorf("missing channel")
	}
	switch word {
	case "join":
		if rest == "" {
			return fmt.Errorf("usage: join <channel> <json>")
		}
		if err := chans.join(channel, rest); err != nil {
			return err
		}
		w.emit(channelEvent{Event: "joined", Channel: channel})
	case "leave":
		if err := chans.leave(channel); err != nil {
			return err
		}
		w.emit(channelEvent{Event: "left", Channel: channel})
	case "height":
		h, err := strconv.ParseUint(rest, 10, 64)
		if err != nil {
			return fmt.Errorf("usage: height <channel> <n>")
		}
		if err := chans.updateHeight(channel, h); err != nil {
			return err
		}
		w.emit(channelEvent{Event: "height", Channel: channel, Height: &h})
	case "channel_peers":
		peers, err := chans.peersOf(channel)
		if err != nil {
			return err
		}
		w.emit(channelPeersEvent{Event: "channel_peers", Channel: channel, Peers: peers})
	case "add_block":
		ch, seq, raw, err := parseAddBlock(args)
		if err != nil {
			return err
		}
		if err := chans.addBlock(ch, seq, raw); err != nil {
			return err
		}
		w.emit(channelEvent{Event: "added", Channel: ch, Seq: &seq})
	case "watch":
		err := chans.watch(channel, func(seq uint64) {
			w.emit(committedEvent{Event: "committed", Channel: channel, Seq: seq, TNs: monotonicNs()})
		})
		if err != nil {
			return err
		}
		w.emit(channelEvent{Event: "watching", Channel: channel})
	case "is_leader":
		leader, err := chans.isLeader(channel)
		if err != nil {
			return err
		}
		w.emit(leaderEvent{Event: "is_leader", Channel: channel, Leader: leader})
	case "push_pvt":
		ev, err := chans.pushPvt(channel, rest)
		if err != nil {
			return err
		}
		w.emit(ev)
	case "ledger_height":
		h, err := chans.ledgerHeight(channel)
		if err != nil {
			return err
		}
		w.emit(channelEvent{Event: "ledger_height", Channel: channel, Height: &h})
	}
	return nil
}

// processStats returns resident memory (kB, from /proc) and user+system CPU seconds.
func processStats() (int64, float64) {
	var rss int64 = -1
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				f := strings.Fields(line)
				if len(f) >= 2 {
					if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
						rss = v
					}
				}
			}
		}
	}
	var ru syscall.Rusage
	cpu := -1.0
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		cpu = float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	}
	return rss, cpu
}

package interop

// Channel and block commands of the peer process protocol, the same for both kinds.

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// ask sends one command line and waits for its answer; an `error` answer fails.
func (p *peerProc) ask(line, want string) (event, error) {
	if err := p.send(line); err != nil {
		return event{}, fmt.Errorf("%s: write %q: %w", p.name, strings.SplitN(line, " ", 2)[0], err)
	}
	ev, err := p.next(commandTimeout, want, "error")
	if err != nil {
		return event{}, fmt.Errorf("%s: %w", p.name, err)
	}
	if ev.Event == "error" {
		return event{}, fmt.Errorf("%s: %s", p.name, ev.Message)
	}
	return ev, nil
}

type joinSpec struct {
	Sequence    uint64   `json:"sequence"`
	Members     []string `json:"members"`
	AnchorPeers []any    `json:"anchor_peers"`
}

func (p *peerProc) join(channel string, spec joinSpec) error {
	if spec.AnchorPeers == nil {
		spec.AnchorPeers = []any{}
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	_, err = p.ask(fmt.Sprintf("join %s %s", channel, js), "joined")
	return err
}

func (p *peerProc) publishHeight(channel string, h uint64) error {
	_, err := p.ask(fmt.Sprintf("height %s %d", channel, h), "height")
	return err
}

func (p *peerProc) channelPeers(channel string) ([]peerRecord, error) {
	ev, err := p.ask("channel_peers "+channel, "channel_peers")
	return ev.Peers, err
}

func (p *peerProc) addBlock(channel string, seq uint64, block []byte) error {
	_, err := p.ask(fmt.Sprintf("add_block %s %d %s", channel, seq, hex.EncodeToString(block)), "added")
	return err
}

func (p *peerProc) ledgerHeight(channel string) (uint64, error) {
	ev, err := p.ask("ledger_height "+channel, "ledger_height")
	return ev.Height, err
}

// channelViewOK checks that view lists every other node with the height it published.
func channelViewOK(self *peerProc, view []peerRecord, nodes []*peerProc, heights map[*peerProc]uint64, org string) error {
	byID := map[string]peerRecord{}
	for _, r := range view {
		byID[r.PKIID] = r
	}
	var problems []string
	for _, q := range nodes {
		if q == self {
			continue
		}
		r, ok := byID[q.pkiID]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s missing", q.name))
		case r.LedgerHeight != heights[q]:
			problems = append(problems, fmt.Sprintf("%s at height %d, want %d", q.name, r.LedgerHeight, heights[q]))
		case r.Org != org:
			problems = append(problems, fmt.Sprintf("%s org %q, want %q", q.name, r.Org, org))
		case r.InternalEndpoint != q.address:
			problems = append(problems, fmt.Sprintf("%s internal_endpoint %q, want %q", q.name, r.InternalEndpoint, q.address))
		case r.LeftChannel:
			problems = append(problems, fmt.Sprintf("%s marked as having left", q.name))
		}
	}
	if len(view) != len(nodes)-1 {
		problems = append(problems, fmt.Sprintf("%d entries, want %d", len(view), len(nodes)-1))
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// describeChannel is every node's channel view and ledger height, for failure reports.
func describeChannel(nodes []*peerProc, channel string) string {
	var b strings.Builder
	names := map[string]string{}
	for _, n := range nodes {
		names[n.pkiID] = n.name
	}
	for _, n := range nodes {
		h, herr := n.ledgerHeight(channel)
		view, verr := n.channelPeers(channel)
		fmt.Fprintf(&b, "\n  %s (%s): ledger_height=%d (err %v); channel view (err %v):", n.name, n.kind, h, herr, verr)
		for _, r := range view {
			name := names[r.PKIID]
			if name == "" {
				name = r.PKIID[:12] + "…"
			}
			left := ""
			if r.LeftChannel {
				left = "(left)"
			}
			fmt.Fprintf(&b, " %s@%d%s", name, r.LedgerHeight, left)
		}
	}
	return b.String()
}

// waitForChannelViews polls channel_peers on every node until each lists the
// others with the heights they published.
func waitForChannelViews(t *testing.T, what, channel string, nodes []*peerProc, heights map[*peerProc]uint64, org string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(limit)
	last := map[string]string{}
	for {
		for _, n := range nodes {
			view, err := n.channelPeers(channel)
			if err != nil {
				t.Fatalf("%s: %v\nstderr tail:\n%s", what, err, n.stderr)
			}
			if err := channelViewOK(n, view, nodes, heights, org); err != nil {
				last[n.name] = err.Error()
			} else {
				delete(last, n.name)
			}
		}
		if len(last) == 0 {
			took := time.Since(start)
			t.Logf("%s: reached in %s", what, took.Round(time.Millisecond))
			return took
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for name, msg := range last {
				fmt.Fprintf(&b, "\n  %s: %s", name, msg)
			}
			t.Fatalf("%s: not reached within %s:%s\nviews:%s", what, limit, b.String(), describeChannel(nodes, channel))
		}
		time.Sleep(pollInterval)
	}
}

// heightPollInterval is finer than pollInterval: blocks travel in tens of milliseconds.
const heightPollInterval = 20 * time.Millisecond

// waitForLedgerHeights polls ledger_height on the nodes until all reach want.
func waitForLedgerHeights(t *testing.T, what, channel string, observers, all []*peerProc, want uint64, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(limit)
	for {
		behind := 0
		for _, n := range observers {
			h, err := n.ledgerHeight(channel)
			if err != nil {
				t.Fatalf("%s: %v\nstderr tail:\n%s", what, err, n.stderr)
			}
			if h > want {
				t.Fatalf("%s: %s at ledger height %d, above %d", what, n.name, h, want)
			}
			if h < want {
				behind++
			}
		}
		if behind == 0 {
			took := time.Since(start)
			t.Logf("%s: reached in %s", what, took.Round(time.Millisecond))
			return took
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s\nviews:%s", what, limit, describeChannel(all, channel))
		}
		time.Sleep(heightPollInterval)
	}
}

func (p *peerProc) leave(channel string) error {
	_, err := p.ask("leave "+channel, "left")
	return err
}

// waitForLeavers polls channel_peers on the stayers until each lists the other
// stayers as members and none of the leavers as one: a leaver is either absent
// (Fabric drops peers whose StateInfo says left_channel) or marked left_channel.
func waitForLeavers(t *testing.T, what, channel string, stayers, leavers, all []*peerProc, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(limit)
	last := map[string]string{}
	for {
		for _, n := range stayers {
			view, err := n.channelPeers(channel)
			if err != nil {
				t.Fatalf("%s: %v\nstderr tail:\n%s", what, err, n.stderr)
			}
			byID := map[string]peerRecord{}
			for _, r := range view {
				byID[r.PKIID] = r
			}
			var problems []string
			for _, q := range stayers {
				if r, ok := byID[q.pkiID]; q != n && (!ok || r.LeftChannel) {
					problems = append(problems, fmt.Sprintf("%s not listed as a member", q.name))
				}
			}
			for _, q := range leavers {
				if r, ok := byID[q.pkiID]; ok && !r.LeftChannel {
					problems = append(problems, fmt.Sprintf("%s still listed as a member", q.name))
				}
			}
			if len(problems) > 0 {
				last[n.name] = strings.Join(problems, "; ")
			} else {
				delete(last, n.name)
			}
		}
		if len(last) == 0 {
			took := time.Since(start)
			t.Logf("%s: reached in %s", what, took.Round(time.Millisecond))
			return took
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for name, msg := range last {
				fmt.Fprintf(&b, "\n  %s: %s", name, msg)
			}
			t.Fatalf("%s: not reached within %s:%s\nviews:%s", what, limit, b.String(), describeChannel(stayers, channel))
		}
		time.Sleep(pollInterval)
	}
}

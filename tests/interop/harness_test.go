package interop

// Process harness: starts peers of either kind (fabricnode, fabgossip Python
// peer) and drives them through the shared peer process protocol.

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	readyTimeout    = 60 * time.Second
	commandTimeout  = 10 * time.Second
	shutdownTimeout = 15 * time.Second
	pollInterval    = 250 * time.Millisecond
)

// event is one stdout JSON line of a peer process.
type event struct {
	Event    string       `json:"event"`
	PKIID    string       `json:"pki_id"`
	Endpoint string       `json:"endpoint"`
	Org      string       `json:"org"`
	Message  string       `json:"message"`
	Peers    []peerRecord `json:"peers"`
	RSSKB    int64        `json:"rss_kb"`
	CPUS     float64      `json:"cpu_s"`
	Channel  string       `json:"channel"`
	Height   uint64       `json:"height"`
	// is_leader and leadership lines.
	Leader bool `json:"leader"`
	// identities (Fabric node).
	Identities []identityRecord `json:"identities"`
	// explain (fabgossip peer).
	Result json.RawMessage `json:"result"`
	// metrics (fabgossip peer): Prometheus text.
	Text string `json:"text"`
	// distributed (fabgossip peer): the distribution report.
	Report     json.RawMessage `json:"report"`
	Incomplete bool            `json:"incomplete"`
	// private_data (Fabric node).
	Collection string `json:"collection"`
	TxID       string `json:"tx_id"`
	Rwset      string `json:"rwset"`
	Configs    int    `json:"configs"`
}

type identityRecord struct {
	PKIID string `json:"pki_id"`
	Org   string `json:"org"`
}

type peerRecord struct {
	PKIID            string `json:"pki_id"`
	Endpoint         string `json:"endpoint"`
	InternalEndpoint string `json:"internal_endpoint"`
	Org              string `json:"org"`
	State            string `json:"state"`
	// channel_peers entries carry these instead of State.
	LedgerHeight uint64 `json:"ledger_height"`
	LeftChannel  bool   `json:"left_channel"`
}

// tailBuffer keeps the last bytes a process wrote to stderr, for failure reports.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = b.buf[len(b.buf)-b.max:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// peerProc is one running peer process of either kind.
type peerProc struct {
	t      *testing.T
	name   string
	kind   string // "fabric" or "fabgossip"
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan event
	stderr *tailBuffer
	exited chan struct{}
	// Filled from the ready line.
	pkiID    string
	endpoint string
	org      string
	// Expected identity, from the seed we handed the process.
	wantPKIID string
	address   string
	stopped   bool
}

// startProc launches cmd and waits for its ready line.
func startProc(t *testing.T, name, kind string, cmd *exec.Cmd, wantPKIID, address string) *peerProc {
	t.Helper()
	p := &peerProc{
		t: t, name: name, kind: kind, cmd: cmd,
		events: make(chan event, 64), stderr: &tailBuffer{max: 16 << 10}, exited: make(chan struct{}),
		wantPKIID: wantPKIID, address: address,
	}
	cmd.Stderr = p.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("%s: stdin pipe: %v", name, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("%s: stdout pipe: %v", name, err)
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: start %s: %v", name, cmd.Path, err)
	}
	go p.readEvents(stdout)
	t.Cleanup(p.kill)

	ev, err := p.next(readyTimeout, "ready", "error")
	if err != nil {
		t.Fatalf("%s: no ready line: %v\nstderr tail:\n%s", name, err, p.stderr)
	}
	if ev.Event == "error" {
		t.Fatalf("%s: start failed: %s\nstderr tail:\n%s", name, ev.Message, p.stderr)
	}
	p.pkiID, p.endpoint, p.org = ev.PKIID, ev.Endpoint, ev.Org
	if wantPKIID != "" && p.pkiID != wantPKIID {
		t.Fatalf("%s: ready pki_id %s, want SHA-256(mspid ‖ key) = %s", name, p.pkiID, wantPKIID)
	}
	t.Logf("%s (%s) ready: pki_id=%s… endpoint=%s org=%s", name, kind, p.pkiID[:12], p.endpoint, p.org)
	return p
}

// readEvents turns stdout lines into events; lines that are not JSON are logged and skipped.
func (p *peerProc) readEvents(r io.Reader) {
	defer close(p.events)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev event
		if err := json.Unmarshal(line, &ev); err != nil || ev.Event == "" {
			p.t.Logf("%s: non-protocol stdout line: %q", p.name, line)
			continue
		}
		p.events <- ev
	}
}

// next waits for the next event whose name is one of want, skipping others.
func (p *peerProc) next(timeout time.Duration, want ...string) (event, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-p.events:
			if !ok {
				return event{}, fmt.Errorf("stdout closed (process exited: %v)", p.cmd.ProcessState)
			}
			for _, w := range want {
				if ev.Event == w {
					return ev, nil
				}
			}
			if ev.Event == "error" {
				p.t.Logf("%s: error event: %s", p.name, ev.Message)
			}
		case <-deadline.C:
			return event{}, fmt.Errorf("no %v event within %s", want, timeout)
		}
	}
}

func (p *peerProc) send(word string) error {
	_, err := io.WriteString(p.stdin, word+"\n")
	return err
}

// peers asks for the membership view.
func (p *peerProc) peers() ([]peerRecord, error) {
	if err := p.send("peers"); err != nil {
		return nil, fmt.Errorf("%s: write peers: %w", p.name, err)
	}
	ev, err := p.next(commandTimeout, "peers")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	return ev.Peers, nil
}

// stats asks for resident memory and CPU time.
func (p *peerProc) stats() (event, error) {
	if err := p.send("stats"); err != nil {
		return event{}, err
	}
	return p.next(commandTimeout, "stats")
}

// shutdown asks the process to stop and expects the shutdown line and exit status 0.
func (p *peerProc) shutdown() {
	p.t.Helper()
	if err := p.send("shutdown"); err != nil {
		p.t.Fatalf("%s: write shutdown: %v", p.name, err)
	}
	if _, err := p.next(shutdownTimeout, "shutdown"); err != nil {
		p.t.Fatalf("%s: %v\nstderr tail:\n%s", p.name, err, p.stderr)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- p.cmd.Wait() }()
	select {
	case err := <-waitErr:
		p.stopped = true
		if err != nil {
			p.t.Fatalf("%s: exit after shutdown: %v\nstderr tail:\n%s", p.name, err, p.stderr)
		}
	case <-time.After(shutdownTimeout):
		p.t.Fatalf("%s: did not exit within %s of its shutdown line", p.name, shutdownTimeout)
	}
}

// kill ends a process the test did not stop cleanly (cleanup after a failure).
func (p *peerProc) kill() {
	if p.stopped || p.cmd.Process == nil {
		return
	}
	p.stdin.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	p.stopped = true
}

// viewOK checks one process's view against the expected alive and dead sets.
func viewOK(view []peerRecord, alive, dead []*peerProc, org string) error {
	byID := map[string]peerRecord{}
	for _, r := range view {
		byID[r.PKIID] = r
	}
	var problems []string
	for _, q := range alive {
		r, ok := byID[q.pkiID]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s missing", q.name))
		case r.State != "alive":
			problems = append(problems, fmt.Sprintf("%s is %q, want alive", q.name, r.State))
		case r.Org != org:
			problems = append(problems, fmt.Sprintf("%s org %q, want %q", q.name, r.Org, org))
		case r.InternalEndpoint != q.address:
			problems = append(problems, fmt.Sprintf("%s internal_endpoint %q, want %q", q.name, r.InternalEndpoint, q.address))
		case r.Endpoint != q.address: // every node publishes its address as external endpoint
			problems = append(problems, fmt.Sprintf("%s endpoint %q, want %q", q.name, r.Endpoint, q.address))
		}
	}
	for _, q := range dead {
		r, ok := byID[q.pkiID]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s missing (want dead)", q.name))
		case r.State != "dead":
			problems = append(problems, fmt.Sprintf("%s is %q, want dead", q.name, r.State))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// waitForViews polls `peers` on every observer until each sees exactly what is
// expected, or fails at the deadline with every observer's last mismatch.
func waitForViews(t *testing.T, what string, observers, all, dead []*peerProc, org string, limit time.Duration) time.Duration {
	t.Helper()
	isDead := map[*peerProc]bool{}
	for _, d := range dead {
		isDead[d] = true
	}
	start := time.Now()
	deadline := start.Add(limit)
	last := map[string]string{}
	for {
		pending := 0
		for _, o := range observers {
			var alive []*peerProc
			for _, q := range all {
				if q != o && !isDead[q] {
					alive = append(alive, q)
				}
			}
			view, err := o.peers()
			if err != nil {
				t.Fatalf("%s: %v\nstderr tail:\n%s", what, err, o.stderr)
			}
			if err := viewOK(view, alive, dead, org); err != nil {
				last[o.name] = err.Error()
				pending++
			} else {
				delete(last, o.name)
			}
		}
		if pending == 0 {
			took := time.Since(start)
			t.Logf("%s: reached in %s", what, took.Round(time.Millisecond))
			return took
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for name, msg := range last {
				fmt.Fprintf(&b, "\n  %s: %s", name, msg)
			}
			t.Fatalf("%s: not reached within %s:%s", what, limit, b.String())
		}
		time.Sleep(pollInterval)
	}
}

// identity is an Ed25519 seed and the PKI-ID the built-in default derives from it.
type identity struct {
	seedHex string
	pkiID   string
}

func newIdentity(t *testing.T, mspID string) identity {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		t.Fatalf("seed: %v", err)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	sum := sha256.Sum256(append([]byte(mspID), pub...))
	return identity{seedHex: hex.EncodeToString(seed), pkiID: hex.EncodeToString(sum[:])}
}

// freeAddrs picks n free loopback ports below the kernel's ephemeral range, so
// that no outgoing connection of an already started node can take a port
// before the node meant to listen on it binds it. Every node's address is thus
// known before any node starts.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	low := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 12000 {
				low = v
			}
		}
	}
	const base = 10000
	var addrs []string
	taken := map[int]bool{}
	for tries := 0; len(addrs) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("no %d free loopback ports in %d..%d", n, base, low)
		}
		var b [2]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatalf("random port: %v", err)
		}
		port := base + (int(b[0])<<8|int(b[1]))%(low-base)
		if taken[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		taken[port] = true
		addrs = append(addrs, addr)
	}
	return addrs
}

var (
	buildOnce    sync.Once
	fabricBinary string
	buildErr     error
	buildDir     string
)

// fabricnodeBinary builds cmd/fabricnode once per test run.
func fabricnodeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "fabricnode-")
		if buildErr != nil {
			return
		}
		fabricBinary = filepath.Join(buildDir, "fabricnode")
		cmd := exec.Command("go", "build", "-o", fabricBinary, "./cmd/fabricnode")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/fabricnode: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return fabricBinary
}

// fabricOpts are the knobs a test passes to a fabricnode.
type fabricOpts struct {
	name, address, msp string
	id                 identity
	bootstrap          []string
	tls                bool
	alive, expiration  time.Duration
	tuning
}

// electionTimers are peer.gossip.election.*; a peer given them runs leader election
// (useLeaderElection on, orgLeader off).
type electionTimers struct {
	startupGrace, membershipSample, leaderAlive, duration time.Duration
}

// tuning holds knobs both kinds take; zero values keep each kind's defaults.
type tuning struct {
	election *electionTimers
	// publishCertPeriod, when set, is peer.gossip.publishCertPeriod (0: alive
	// messages never carry the identity).
	publishCertPeriod *time.Duration
	// stateInfoInterval is peer.gossip.publishStateInfoInterval and
	// requestStateInfoInterval.
	stateInfoInterval time.Duration
	// advertise is published as both external and internal endpoint instead of the
	// listen address (an address nobody listens on keeps others from dialing in).
	advertise string
	// trusted are the MSP IDs the peer accepts identities of (default: its own).
	trusted []string
	// privateData is the Fabric node's --private-data mode (ignore, ack, nack).
	privateData string
	// pushAckTimeout is the fabgossip peer's peer.gossip.pvtData.pushAckTimeout.
	pushAckTimeout time.Duration
}

// trustedOrgs is the list of accepted MSP IDs: the tuning's, or the peer's own.
func (tu tuning) trustedOrgs(own string) []string {
	if len(tu.trusted) > 0 {
		return tu.trusted
	}
	return []string{own}
}

// published is the endpoint the peer tells others.
func (tu tuning) published(listen string) string {
	if tu.advertise != "" {
		return tu.advertise
	}
	return listen
}

func startFabricNode(t *testing.T, o fabricOpts) *peerProc {
	t.Helper()
	args := []string{
		"--listen", o.address,
		"--external-endpoint", o.published(o.address),
		"--internal-endpoint", o.published(o.address),
		"--msp", o.msp,
		"--seed", o.id.seedHex,
		"--trusted-orgs", strings.Join(o.trustedOrgs(o.msp), ","),
		"--bootstrap", strings.Join(o.bootstrap, " "),
		"--alive-interval", o.alive.String(),
		"--alive-expiration", o.expiration.String(),
		"--reconnect-interval", o.expiration.String(),
	}
	if o.tls {
		args = append(args, "--tls")
	}
	if e := o.election; e != nil {
		args = append(args, "--leader-election",
			"--election-startup-grace", e.startupGrace.String(),
			"--election-membership-sample", e.membershipSample.String(),
			"--election-leader-alive", e.leaderAlive.String(),
			"--election-duration", e.duration.String())
	}
	if o.publishCertPeriod != nil {
		args = append(args, "--publish-cert-period", o.publishCertPeriod.String())
	}
	if o.stateInfoInterval > 0 {
		args = append(args, "--state-info-interval", o.stateInfoInterval.String())
	}
	if o.privateData != "" {
		args = append(args, "--private-data", o.privateData)
	}
	cmd := exec.Command(fabricnodeBinary(t), args...)
	return startProc(t, o.name, "fabric", cmd, o.id.pkiID, o.address)
}

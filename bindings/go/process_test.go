package fabgossip

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The multi-peer tests run gopeer processes (one gossip service per process) built in
// the same link mode as the test binary.

var (
	gopeerOnce sync.Once
	gopeerPath string
	gopeerErr  error
	gopeerDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if gopeerDir != "" {
		os.RemoveAll(gopeerDir)
	}
	os.Exit(code)
}

func gopeer(t *testing.T) string {
	t.Helper()
	gopeerOnce.Do(func() {
		gopeerDir, gopeerErr = os.MkdirTemp("", "gopeer-")
		if gopeerErr != nil {
			return
		}
		gopeerPath = filepath.Join(gopeerDir, "gopeer")
		args := []string{"build", "-o", gopeerPath}
		if LinkMode == "static" {
			args = append(args, "-tags", "fabgossip_static")
		}
		out, err := exec.Command("go", append(args, "./cmd/gopeer")...).CombinedOutput()
		if err != nil {
			gopeerErr = fmt.Errorf("building gopeer: %v\n%s", err, out)
		}
	})
	if gopeerErr != nil {
		t.Fatal(gopeerErr)
	}
	return gopeerPath
}

var (
	portsMu   sync.Mutex
	handedOut = map[int]bool{}
)

// freePort picks a free loopback port below the kernel's ephemeral range, so that no
// outgoing connection of a peer already running can take it before the peer meant to
// listen on it binds it.
func freePort(t *testing.T) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	low := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 12000 {
				low = v
			}
		}
	}
	for tries := 0; tries < 1000; tries++ {
		port := 10000 + mrand.Intn(low-10000)
		if handedOut[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		handedOut[port] = true
		return port
	}
	t.Fatal("no free loopback port below the ephemeral range")
	return 0
}

// anchor is an anchor peer of a channel config: fabgossip.anchorPeers in the config.
type anchor struct {
	Host  string `json:"host"`
	Port  int    `json:"port"`
	MSPID string `json:"mspid"`
}

// peerConfig is the JSON config of one peer on 127.0.0.1:port, with fast gossip timers.
func peerConfig(dir, mspid string, port int, bootstrap []string, trusted []string, seedHex string, anchors ...anchor) string {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if anchors == nil {
		anchors = []anchor{}
	}
	cfg := map[string]any{
		"peer": map[string]any{
			"id":             fmt.Sprintf("peer-%d", port),
			"localMspId":     mspid,
			"listenAddress":  addr,
			"address":        addr,
			"fileSystemPath": dir,
			"gossip": map[string]any{
				"bootstrap":              strings.Join(bootstrap, " "),
				"externalEndpoint":       addr,
				"aliveTimeInterval":      "200ms",
				"aliveExpirationTimeout": "2s",
				"reconnectInterval":      "1s",
				"dialTimeout":            "1s",
				"connTimeout":            "1s",
			},
		},
		"fabgossip": map[string]any{
			"trustedOrgs":  trusted,
			"identitySeed": seedHex,
			"anchorPeers":  anchors,
		},
	}
	b, _ := json.Marshal(cfg)
	return string(b)
}

// startNetwork starts n peers, alternately of Org1MSP and Org2MSP, trusting both orgs:
// peer 0 and peer 1 are their orgs' anchor peers, the others bootstrap to their org's
// anchor. args(i) gives extra gopeer flags for peer i.
func startNetwork(t *testing.T, n, seedBase int, args func(i int) []string) []*peerProcess {
	t.Helper()
	orgs := []string{"Org1MSP", "Org2MSP"}
	ports := make([]int, n)
	for i := range ports {
		ports[i] = freePort(t)
	}
	anchors := []anchor{{"127.0.0.1", ports[0], orgs[0]}, {"127.0.0.1", ports[1], orgs[1]}}
	var peers []*peerProcess
	for i, port := range ports {
		var boot []string
		if i >= 2 {
			boot = []string{fmt.Sprintf("127.0.0.1:%d", ports[i%2])}
		}
		cfg := peerConfig(t.TempDir(), orgs[i%2], port, boot, orgs, seedHex(seedBase+i), anchors...)
		peers = append(peers, startPeer(t, fmt.Sprintf("p%d", i), cfg, args(i)...))
	}
	return peers
}

func seedHex(n int) string {
	return strings.Repeat(fmt.Sprintf("%02x", n), 32)
}

// peerProcess is a running gopeer.
type peerProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan map[string]any
	ready  map[string]any
	done   chan struct{}
}

func startPeer(t *testing.T, name, config string, args ...string) *peerProcess {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, name+".json")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gopeer(t), append([]string{"--config", cfgPath}, args...)...)
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	cmd.Env = append(os.Environ(), "FABGOSSIP_LOG=info")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &peerProcess{t: t, cmd: cmd, stdin: stdin, events: make(chan map[string]any, 64), done: make(chan struct{})}
	go func() {
		defer close(p.events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				p.events <- ev
			}
		}
	}()
	go func() {
		cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("%s stderr (tail):\n%s", name, tail(string(b), 3000))
			}
		}
	})
	ev := p.expect("ready", 30*time.Second)
	if ev == nil {
		t.Fatalf("%s: no ready line", name)
	}
	p.ready = ev
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// expect returns the next event named want, failing on an error event or timeout.
func (p *peerProcess) expect(want string, timeout time.Duration) map[string]any {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-p.events:
			if !ok {
				p.t.Fatalf("peer exited while waiting for %q", want)
			}
			if ev["event"] == want {
				return ev
			}
			if ev["event"] == "error" {
				p.t.Fatalf("peer error while waiting for %q: %v", want, ev["message"])
			}
		case <-deadline:
			p.t.Fatalf("no %q event within %v", want, timeout)
		}
	}
}

func (p *peerProcess) command(cmd, want string) map[string]any {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, cmd+"\n"); err != nil {
		p.t.Fatalf("writing %q: %v", cmd, err)
	}
	return p.expect(want, 10*time.Second)
}

func (p *peerProcess) pkiID() string { return p.ready["pki_id"].(string) }

// alive is the set of PKI-IDs this peer sees alive.
func (p *peerProcess) alive() map[string]bool {
	p.t.Helper()
	ev := p.command("peers", "peers")
	out := map[string]bool{}
	list, _ := ev["peers"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		if m["state"] == "alive" {
			out[m["pki_id"].(string)] = true
		}
	}
	return out
}

// waitFullView waits until every peer sees every other one alive.
func waitFullView(t *testing.T, peers []*peerProcess, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		for _, p := range peers {
			view := p.alive()
			for _, q := range peers {
				if q != p && !view[q.pkiID()] {
					missing++
				}
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no full membership view after %v: %d (viewer, member) pairs missing", timeout, missing)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

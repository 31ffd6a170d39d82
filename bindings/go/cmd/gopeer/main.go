// Command gopeer is a gossip peer process in Go over libfabgossip: `gopeer --config FILE`.
//
// It speaks the peer process protocol shared with the Python and C peers: JSON lines on
// stdout (`ready` or `error` first), commands `peers`, `stats`, `shutdown` on stdin (EOF
// means shutdown), and the channel commands `join CH JSON`, `add_block CH SEQ HEX`,
// `ledger_height CH` and `channel_peers CH`.
//
// --ledger go keeps every channel's blocks in a Go MemoryLedger behind the host ledger
// callbacks instead of the embedded file ledger (commands `ledger_preload CH HEX` and
// `ledger_blocks CH`); --ledger-fail SEQ:N,... and --ledger-panic SEQ:N,... make the commit
// of block SEQ return an error or panic N times before it succeeds. FABGOSSIP_LOG=error|warn|info|debug|trace copies library logs to stderr.
//
// --crypto selects the identity provider: `builtin` (the library's own Ed25519, default),
// `ed25519` (the same identities computed in Go through the host callbacks) or `x509`
// (X.509 certificates with ECDSA P-256 keys: --msp-dir holds cert.pem and key.pem).
// --trust-ca MSPID=ca.pem,... names the trusted X.509 CAs (an ed25519 peer given it accepts
// X.509 identities too); --trust-ed25519 ORG,... makes an x509 peer accept Ed25519 ones. For the Go providers the MSP
// ID, seed and trusted orgs come from the config when it is JSON (peer.localMspId,
// fabgossip.identitySeed, fabgossip.trustedOrgs) unless the flags give them.
//
// The config file is read by fg_init_from_file: relative paths in it resolve against its
// folder, and CORE_* environment variables override its keys, as for a Fabric peer. Command
// lines may be of any length (a 1 MB block is 2 MB of hex); a line the peer cannot take is
// answered with an error line and the peer reads on.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	fabgossip "github.com/fabgossip/fabgossip/bindings/go"
	"github.com/fabgossip/fabgossip/bindings/go/identity"
)

var outMu sync.Mutex

func emit(v any) {
	line, err := json.Marshal(v)
	if err != nil {
		line = []byte(`{"event":"error","message":"cannot encode output"}`)
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(line, '\n'))
}

func emitError(msg string) {
	emit(map[string]string{"event": "error", "message": msg})
}

// jsonConfig is the part of a JSON config the Go identity providers need.
type jsonConfig struct {
	Peer struct {
		LocalMspID string `json:"localMspId"`
	} `json:"peer"`
	Fabgossip struct {
		TrustedOrgs  []string `json:"trustedOrgs"`
		IdentitySeed string   `json:"identitySeed"`
	} `json:"fabgossip"`
}

type options struct {
	config  string
	crypto  string
	mspID   string
	seed    string
	trust   string
	mspDir  string
	trustCA string
	// trustEd25519 lists the orgs whose Ed25519 identities an x509 peer accepts.
	trustEd25519 string
	ledger       string
	ledgerFail   string
	ledgerPanic  string
}

func main() {
	os.Exit(run())
}

func run() int {
	var o options
	flag.StringVar(&o.config, "config", "", "peer config file (YAML or JSON)")
	flag.StringVar(&o.crypto, "crypto", "builtin", "identity provider: builtin, ed25519 or x509")
	flag.StringVar(&o.mspID, "msp-id", "", "MSP ID for the Go providers (default: peer.localMspId)")
	flag.StringVar(&o.seed, "seed", "", "Ed25519 seed, 64 hex digits (default: fabgossip.identitySeed)")
	flag.StringVar(&o.trust, "trust", "", "comma-separated trusted orgs (default: fabgossip.trustedOrgs)")
	flag.StringVar(&o.mspDir, "msp-dir", "", "x509: directory with cert.pem and key.pem (PKCS#8 or EC)")
	flag.StringVar(&o.trustCA, "trust-ca", "", "comma-separated MSPID=ca.pem pairs of trusted X.509 CAs")
	flag.StringVar(&o.trustEd25519, "trust-ed25519", "", "x509: comma-separated orgs whose Ed25519 identities are accepted")
	flag.StringVar(&o.ledger, "ledger", "file", "ledger: file (embedded) or go (Go ledger callbacks)")
	flag.StringVar(&o.ledgerFail, "ledger-fail", "", "go ledger: SEQ:N,... commits that fail N times first")
	flag.StringVar(&o.ledgerPanic, "ledger-panic", "", "go ledger: SEQ:N,... commits that panic N times first")
	flag.CommandLine.SetOutput(os.Stderr)
	if err := flag.CommandLine.Parse(os.Args[1:]); err != nil || o.config == "" {
		emitError("usage: gopeer --config FILE [--crypto builtin|ed25519|x509]")
		return 1
	}
	text, err := os.ReadFile(o.config)
	if err != nil {
		emitError("cannot read config: " + err.Error())
		return 1
	}
	if lvl := logLevel(os.Getenv("FABGOSSIP_LOG")); lvl != fabgossip.LogOff {
		err := fabgossip.SetLogger(func(level int, target, msg string) {
			outMu.Lock()
			fmt.Fprintf(os.Stderr, "[%d] %s: %s\n", level, target, msg)
			outMu.Unlock()
		}, lvl)
		if err != nil {
			fmt.Fprintln(os.Stderr, "logging off:", err)
		}
	}
	crypto, err := provider(o, text)
	if err != nil {
		emitError(err.Error())
		return 1
	}
	var ledger *faultyLedger
	switch o.ledger {
	case "file":
	case "go":
		if ledger, err = newFaultyLedger(o.ledgerFail, o.ledgerPanic); err != nil {
			emitError(err.Error())
			return 1
		}
	default:
		emitError("unknown --ledger " + o.ledger + " (file, go)")
		return 1
	}
	svc, err := fabgossip.OpenFile(o.config, crypto)
	if err != nil {
		emitError(errorText(err))
		return 1
	}
	if ledger != nil {
		if err := svc.SetLedger(ledger); err != nil {
			emitError("SetLedger: " + errorText(err))
			svc.Close()
			return 1
		}
	}
	self, err := svc.Self()
	if err != nil {
		emitError("fg_self: " + err.Error())
		svc.Close()
		return 1
	}
	emit(map[string]string{"event": "ready", "pki_id": self.PKIID, "endpoint": self.Endpoint, "org": self.Org})

	in := bufio.NewReader(os.Stdin)
	for {
		line, readErr := in.ReadString('\n')
		if readErr != nil && line == "" {
			if readErr != io.EOF {
				emitError("reading commands: " + readErr.Error())
			}
			break
		}
		if !utf8.ValidString(line) {
			emitError("input line is not UTF-8: " + quoted(line))
			continue
		}
		switch cmd := strings.TrimSpace(line); cmd {
		case "":
		case "peers":
			peers, err := svc.Peers()
			if err != nil {
				emitError("fg_peers: " + err.Error())
				continue
			}
			if peers == nil {
				peers = []fabgossip.Peer{}
			}
			emit(map[string]any{"event": "peers", "peers": peers})
		case "stats":
			emit(map[string]any{"event": "stats", "rss_kb": rssKB(), "cpu_s": cpuSeconds()})
		case "metrics":
			text, err := fabgossip.Metrics()
			if err != nil {
				emitError("fg_metrics: " + err.Error())
				continue
			}
			emit(map[string]any{"event": "metrics", "text": text})
		case "shutdown":
			return shutdown(svc)
		default:
			if !channelCommand(cmd, ledger) {
				emitError("unknown command: " + quoted(cmd))
			}
		}
	}
	return shutdown(svc)
}

// quoted is a bounded echo of an input line for an error message.
func quoted(line string) string {
	const limit = 80
	if len(line) <= limit {
		return strconv.Quote(line)
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(line[:limit]), len(line))
}

func errorText(err error) string {
	var fe *fabgossip.Error
	if errors.As(err, &fe) {
		return fe.Status.String() + ": " + fe.Detail
	}
	return err.Error()
}

func shutdown(svc *fabgossip.Service) int {
	if err := svc.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
	}
	emit(map[string]string{"event": "shutdown"})
	return 0
}

// provider builds the MessageCryptoService chosen by --crypto (nil for builtin).
func provider(o options, text []byte) (fabgossip.MessageCryptoService, error) {
	if o.crypto == "builtin" {
		return nil, nil
	}
	var cfg jsonConfig
	// A YAML config is fine as long as the flags give what the provider needs.
	_ = json.Unmarshal(text, &cfg)
	mspID := firstOf(o.mspID, cfg.Peer.LocalMspID)
	trusted := cfg.Fabgossip.TrustedOrgs
	if o.trust != "" {
		trusted = strings.Split(o.trust, ",")
	}
	if mspID == "" {
		return nil, errors.New("--crypto " + o.crypto + " needs --msp-id or peer.localMspId in a JSON config")
	}
	switch o.crypto {
	case "ed25519":
		seed := firstOf(o.seed, cfg.Fabgossip.IdentitySeed)
		if seed == "" {
			return nil, errors.New("--crypto ed25519 needs --seed or fabgossip.identitySeed in a JSON config")
		}
		self, err := identity.NewEd25519FromHex(mspID, seed, trusted)
		if err != nil || o.trustCA == "" {
			return self, err
		}
		return withX509(self, o.trustCA)
	case "x509":
		return x509Provider(o, mspID)
	}
	return nil, fmt.Errorf("unknown --crypto %q (builtin, ed25519, x509)", o.crypto)
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func logLevel(v string) int {
	switch v {
	case "error":
		return fabgossip.LogError
	case "warn":
		return fabgossip.LogWarn
	case "info":
		return fabgossip.LogInfo
	case "debug":
		return fabgossip.LogDebug
	case "trace":
		return fabgossip.LogTrace
	}
	return fabgossip.LogOff
}

func rssKB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb
		}
	}
	return 0
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

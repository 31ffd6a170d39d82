// Command fabricnode runs one real Hyperledger Fabric gossip node (Fabric's own
// gossip packages) with an Ed25519 identity that matches fabgossip's built-in
// default, and speaks the shared peer process protocol on stdin/stdout, so tests
// and benchmarks drive it exactly like a fabgossip peer.
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hyperledger/fabric/common/flogging"
	"github.com/hyperledger/fabric/common/metrics/disabled"
	"github.com/hyperledger/fabric/gossip/api"
	gcommon "github.com/hyperledger/fabric/gossip/common"
	"github.com/hyperledger/fabric/gossip/election"
	"github.com/hyperledger/fabric/gossip/gossip"
	"github.com/hyperledger/fabric/gossip/metrics"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// maxMsgSize is Fabric's gRPC message limit (100 MiB).
const maxMsgSize = 100 * 1024 * 1024

type options struct {
	listen            string
	mspID             string
	seedHex           string
	bootstrap         string
	externalEndpoint  string
	trustedOrgs       string
	tls               bool
	aliveInterval     time.Duration
	aliveExpiration   time.Duration
	reconnectInterval time.Duration
	logSpec           string
	trackInterval     time.Duration
	stateTransfer     bool
	internalEndpoint  string
	publishCertPeriod time.Duration
	leaderElection    bool
	stateInfoInterval time.Duration
	election          election.ElectionConfig
	privateData       string
	bench             benchOptions
}

func parseOptions(args []string) (*options, error) {
	fs := flag.NewFlagSet("fabricnode", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	o := &options{}
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "gossip gRPC listen address host:port (port 0 picks a free one)")
	fs.StringVar(&o.mspID, "msp", "Org1MSP", "MSP ID (org) of this node")
	fs.StringVar(&o.seedHex, "seed", "", "Ed25519 seed, 64 hex chars (random when empty)")
	fs.StringVar(&o.bootstrap, "bootstrap", "", "space-separated bootstrap peers host:port")
	fs.StringVar(&o.externalEndpoint, "external-endpoint", "", "endpoint published to other orgs (peer.gossip.externalEndpoint)")
	fs.StringVar(&o.trustedOrgs, "trusted-orgs", "", "comma-separated trusted MSP IDs (default: own MSP ID)")
	fs.BoolVar(&o.tls, "tls", false, "serve and dial with TLS (self-signed ECDSA P-256 cert)")
	fs.DurationVar(&o.aliveInterval, "alive-interval", 5*time.Second, "peer.gossip.aliveTimeInterval")
	fs.DurationVar(&o.aliveExpiration, "alive-expiration", 0, "peer.gossip.aliveExpirationTimeout (default 5 × alive interval)")
	fs.DurationVar(&o.reconnectInterval, "reconnect-interval", 0, "peer.gossip.reconnectInterval (default = alive expiration)")
	fs.StringVar(&o.logSpec, "log-spec", "error", "Fabric logging spec, written to stderr")
	fs.DurationVar(&o.trackInterval, "track-interval", time.Second, "how often the alive view is sampled to derive dead members (0: only on `peers`)")
	fs.BoolVar(&o.stateTransfer, "state-transfer", false, "peer.gossip.state.enabled: pull missing blocks from peers with higher StateInfo heights (anti-entropy)")
	fs.StringVar(&o.internalEndpoint, "internal-endpoint", "", "endpoint published to peers of the own org (peer.gossip.endpoint; default: the listen address)")
	fs.DurationVar(&o.publishCertPeriod, "publish-cert-period", 10*time.Second, "peer.gossip.publishCertPeriod: alive messages carry the identity this long after start (0: never)")
	fs.DurationVar(&o.stateInfoInterval, "state-info-interval", 4*time.Second, "peer.gossip.publishStateInfoInterval and requestStateInfoInterval")
	fs.BoolVar(&o.leaderElection, "leader-election", false, "peer.gossip.useLeaderElection: run Fabric's leader election on every joined channel")
	fs.DurationVar(&o.election.StartupGracePeriod, "election-startup-grace", election.DefStartupGracePeriod, "peer.gossip.election.startupGracePeriod")
	fs.DurationVar(&o.election.MembershipSampleInterval, "election-membership-sample", election.DefMembershipSampleInterval, "peer.gossip.election.membershipSampleInterval")
	fs.DurationVar(&o.election.LeaderAliveThreshold, "election-leader-alive", election.DefLeaderAliveThreshold, "peer.gossip.election.leaderAliveThreshold")
	fs.DurationVar(&o.election.LeaderElectionDuration, "election-duration", election.DefLeaderElectionDuration, "peer.gossip.election.leaderElectionDuration")
	fs.StringVar(&o.privateData, "private-data", privateDataIgnore, "pushed PrivateDataMessages: ignore, ack (as Fabric's handler after storing) or nack")
	fs.IntVar(&o.bench.nodes, "inprocess-bench", 0, "run N nodes in this process, disseminate blocks from node 0 and print one JSON result (stdin unused)")
	fs.IntVar(&o.bench.blocks, "blocks", 100, "--inprocess-bench: blocks node 0 adds after the genesis block")
	fs.Float64Var(&o.bench.rate, "rate", 100, "--inprocess-bench: blocks added per second")
	fs.IntVar(&o.bench.blockKB, "block-kb", 10, "--inprocess-bench: size of each block's one transaction, KiB")
	fs.DurationVar(&o.bench.settle, "settle", 2*time.Second, "--inprocess-bench: idle window before and after the blocks")
	fs.DurationVar(&o.bench.timeout, "timeout", 60*time.Second, "--inprocess-bench: wait for missing commits this long after the last add")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.mspID == "" {
		return nil, fmt.Errorf("--msp must not be empty")
	}
	if o.aliveInterval <= 0 {
		return nil, fmt.Errorf("--alive-interval must be positive")
	}
	if o.aliveExpiration == 0 {
		o.aliveExpiration = 5 * o.aliveInterval
	}
	if o.aliveExpiration <= o.aliveInterval {
		return nil, fmt.Errorf("--alive-expiration (%s) must exceed --alive-interval (%s)", o.aliveExpiration, o.aliveInterval)
	}
	if o.reconnectInterval == 0 {
		o.reconnectInterval = o.aliveExpiration
	}
	if o.trackInterval < 0 {
		return nil, fmt.Errorf("--track-interval must not be negative")
	}
	if o.reconnectInterval < 0 {
		return nil, fmt.Errorf("--reconnect-interval must be positive")
	}
	for _, b := range o.bootstrapPeers() {
		if err := checkEndpoint(b); err != nil {
			return nil, fmt.Errorf("--bootstrap: %w", err)
		}
	}
	if o.externalEndpoint != "" {
		if err := checkEndpoint(o.externalEndpoint); err != nil {
			return nil, fmt.Errorf("--external-endpoint: %w", err)
		}
	}
	if o.internalEndpoint != "" {
		if err := checkEndpoint(o.internalEndpoint); err != nil {
			return nil, fmt.Errorf("--internal-endpoint: %w", err)
		}
	}
	if o.publishCertPeriod < 0 {
		return nil, fmt.Errorf("--publish-cert-period must not be negative")
	}
	for name, d := range map[string]time.Duration{
		"--state-info-interval":        o.stateInfoInterval,
		"--election-startup-grace":     o.election.StartupGracePeriod,
		"--election-membership-sample": o.election.MembershipSampleInterval,
		"--election-leader-alive":      o.election.LeaderAliveThreshold,
		"--election-duration":          o.election.LeaderElectionDuration,
	} {
		// Fabric's election loops on these timers: zero would spin.
		if d <= 0 {
			return nil, fmt.Errorf("%s must be positive", name)
		}
	}
	if err := checkPrivateDataMode(o.privateData); err != nil {
		return nil, err
	}
	if err := o.bench.check(); err != nil {
		return nil, err
	}
	if _, err := o.signer(); err != nil {
		return nil, err
	}
	return o, nil
}

// checkEndpoint accepts host:port with a port in 1..65535.
func checkEndpoint(ep string) error {
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", ep, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || host == "" {
		return fmt.Errorf("%q is not host:port with a port in 1..65535", ep)
	}
	return nil
}

func (o *options) signer() (ed25519.PrivateKey, error) {
	if o.seedHex == "" {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("random seed: %w", err)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	seed, err := hex.DecodeString(o.seedHex)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("--seed must be %d hex chars", 2*ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func (o *options) bootstrapPeers() []string {
	return strings.Fields(o.bootstrap)
}

func (o *options) trusted() []string {
	var orgs []string
	for _, s := range strings.Split(o.trustedOrgs, ",") {
		if s = strings.TrimSpace(s); s != "" {
			orgs = append(orgs, s)
		}
	}
	if len(orgs) == 0 {
		orgs = []string{o.mspID}
	}
	return orgs
}

// node is a running Fabric gossip instance and its gRPC server.
type node struct {
	gossip   *gossip.Node
	mcs      *edCrypto
	metrics  *metrics.GossipMetrics
	server   *grpc.Server
	endpoint string
	pkiID    gcommon.PKIidType
}

func startNode(o *options) (*node, error) {
	signer, err := o.signer()
	if err != nil {
		return nil, err
	}
	pub := signer.Public().(ed25519.PublicKey)
	selfIdentity, err := serializeIdentity(o.mspID, pub)
	if err != nil {
		return nil, fmt.Errorf("serialize identity: %w", err)
	}
	mcs := newEdCrypto(signer, o.trusted())

	lis, err := net.Listen("tcp", o.listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	endpoint := lis.Addr().String()
	host, _, _ := net.SplitHostPort(endpoint)

	// Server keepalive as a Fabric peer: 7200 s / 20 s, clients may ping every 60 s.
	serverOpts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMsgSize),
		grpc.MaxSendMsgSize(maxMsgSize),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 7200 * time.Second, Timeout: 20 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 60 * time.Second, PermitWithoutStream: true}),
	}
	dialOpts := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize), grpc.MaxCallSendMsgSize(maxMsgSize)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 60 * time.Second, Timeout: 20 * time.Second, PermitWithoutStream: true}),
	}
	var certs *gcommon.TLSCertificates
	if o.tls {
		cert, err := selfSignedCert(host)
		if err != nil {
			lis.Close()
			return nil, err
		}
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequestClientCert,
			MinVersion:   tls.VersionTLS12,
		})))
		// The chain is not verified: the handshake's TLS cert-hash binding plus
		// the signed ConnEstablish authenticate the remote peer.
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			Certificates:       []tls.Certificate{cert},
			InsecureSkipVerify: true,
			MinVersion:         tls.VersionTLS12,
		})))
		certs = &gcommon.TLSCertificates{}
		certs.TLSServerCert.Store(&cert)
		certs.TLSClientCert.Store(&cert)
	} else {
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	server := grpc.NewServer(serverOpts...)

	conf, err := gossip.GlobalConfig(endpoint, certs, o.bootstrapPeers()...)
	if err != nil {
		lis.Close()
		return nil, fmt.Errorf("gossip config: %w", err)
	}
	conf.ID = endpoint
	conf.ExternalEndpoint = o.externalEndpoint
	conf.SendBuffSize = 200 // core.yaml value; the code fallback is 20
	conf.AliveTimeInterval = o.aliveInterval
	conf.AliveExpirationTimeout = o.aliveExpiration
	conf.AliveExpirationCheckInterval = o.aliveExpiration / 10
	conf.ReconnectInterval = o.reconnectInterval
	conf.PublishCertPeriod = o.publishCertPeriod
	conf.PublishStateInfoInterval = o.stateInfoInterval
	conf.RequestStateInfoInterval = o.stateInfoInterval
	if o.internalEndpoint != "" {
		conf.InternalEndpoint = o.internalEndpoint
	}

	secureDialOpts := func() []grpc.DialOption { return dialOpts }
	gmetrics := metrics.NewGossipMetrics(&disabled.Provider{})
	g := gossip.New(conf, server, mcs, mcs, api.PeerIdentityType(selfIdentity), secureDialOpts, gmetrics, nil)
	if g == nil {
		lis.Close()
		return nil, fmt.Errorf("gossip.New failed (see stderr)")
	}
	go func() {
		if err := server.Serve(lis); err != nil {
			fmt.Fprintf(os.Stderr, "gRPC server stopped: %v\n", err)
		}
	}()
	return &node{gossip: g, mcs: mcs, metrics: gmetrics, server: server, endpoint: endpoint, pkiID: pkiIDOf(o.mspID, pub)}, nil
}

func (n *node) stop() {
	n.gossip.Stop()
	n.server.Stop()
}

func main() {
	w := &eventWriter{out: os.Stdout}
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		w.emit(simpleEvent{Event: "error", Message: err.Error()})
		os.Exit(1)
	}
	flogging.Init(flogging.Config{LogSpec: o.logSpec, Writer: os.Stderr})
	if o.bench.nodes > 0 {
		if err := runInprocessBench(o); err != nil {
			fmt.Fprintf(os.Stderr, "inprocess-bench: %v\n", err)
			os.Exit(1)
		}
		return
	}

	n, err := startNode(o)
	if err != nil {
		w.emit(simpleEvent{Event: "error", Message: err.Error()})
		os.Exit(1)
	}
	published := n.endpoint
	if o.externalEndpoint != "" {
		published = o.externalEndpoint
	}
	tracker := newMembershipTracker(n.gossip)
	chans := newChannels(n.gossip, n.mcs, n.metrics)
	chans.stateTransfer = o.stateTransfer
	chans.elections = newLeaderElections(n.gossip, n.pkiID, n.metrics.ElectionMetrics, o.leaderElection, o.election,
		func(channel string, leader bool) {
			w.emit(leaderEvent{Event: "leadership", Channel: channel, Leader: leader})
		})
	servePrivateData(n.gossip, o.privateData, w)
	stopTracker := make(chan struct{})
	if o.trackInterval > 0 {
		go tracker.run(o.trackInterval, stopTracker)
	}
	w.emit(readyEvent{Event: "ready", PKIID: hex.EncodeToString(n.pkiID), Endpoint: published, Org: o.mspID})

	done := make(chan struct{})
	go func() {
		serveCommands(os.Stdin, w, tracker, chans)
		close(done)
	}()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-done:
	case <-sigs:
	}
	close(stopTracker)
	chans.stop()
	n.stop()
	w.emit(simpleEvent{Event: "shutdown"})
}

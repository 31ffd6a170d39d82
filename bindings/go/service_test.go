package fabgossip

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fabgossip/fabgossip/bindings/go/identity"
)

// These tests run the one gossip service of this process, so they run one at a time.

func localConfig(t *testing.T, mspid string, bootstrap ...string) string {
	return peerConfig(t.TempDir(), mspid, freePort(t), bootstrap, bothOrgs, seedHex(0x40))
}

func goCrypto(t *testing.T, mspid string) *identity.Ed25519 {
	t.Helper()
	c, err := identity.NewEd25519FromHex(mspid, seedHex(0x40), bothOrgs)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// initT is Init with a Shutdown registered as cleanup, so a failed test leaves the
// process-wide service stopped for the next one.
func initT(t *testing.T, config string, crypto MessageCryptoService) {
	t.Helper()
	t.Cleanup(func() { Shutdown() })
	if err := Init(config, crypto); err != nil {
		t.Fatal(err)
	}
}

func mustShutdown(t *testing.T) {
	t.Helper()
	if err := Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}

func TestVersionIsSemantic(t *testing.T) {
	if v := Version(); !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(v) {
		t.Fatalf("Version() = %q", v)
	}
}

func TestErrorsAreTyped(t *testing.T) {
	err := Init(`{"peer": {"gossip": {"bogusKey": 1}}}`, nil)
	var fe *Error
	if !errors.As(err, &fe) || fe.Status != StatusConfig || !strings.Contains(fe.Detail, "bogusKey") {
		t.Fatalf("bad config: %#v", err)
	}
	if !strings.Contains(err.Error(), "FG_STATUS_CONFIG") {
		t.Errorf("message %q lacks the status name", err.Error())
	}
	if !errors.Is(err, &Error{Status: StatusConfig}) || errors.Is(err, &Error{Status: StatusIO}) {
		t.Error("errors.Is does not match on the status")
	}
	if err := Init("", nil); !errors.Is(err, &Error{Status: StatusInvalidArg}) {
		t.Errorf("empty config: %v", err)
	}
	if _, err := Peers(); !errors.Is(err, &Error{Status: StatusNotInitialized}) {
		t.Errorf("Peers before Init: %v", err)
	}
	if _, err := Self(); !errors.Is(err, &Error{Status: StatusNotInitialized}) {
		t.Errorf("Self before Init: %v", err)
	}
	if StatusBufferTooSmall.String() != "FG_STATUS_BUFFER_TOO_SMALL" || Status(999).String() != "FG_STATUS_UNKNOWN" {
		t.Error("status names")
	}
}

func TestShutdownTwiceAndInitAfterShutdown(t *testing.T) {
	for round := 0; round < 2; round++ {
		svc, err := Open(localConfig(t, "Org1MSP"), nil)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := Init(localConfig(t, "Org1MSP"), nil); !errors.Is(err, &Error{Status: StatusAlreadyInitialized}) {
			t.Errorf("second Init while running: %v", err)
		}
		self, err := svc.Self()
		if err != nil || self.Org != "Org1MSP" || len(self.PKIID) != 64 || !self.Alive() {
			t.Fatalf("Self = %+v, %v", self, err)
		}
		if peers, err := svc.Peers(); err != nil || len(peers) != 0 {
			t.Fatalf("Peers = %v, %v", peers, err)
		}
		if err := svc.Close(); err != nil {
			t.Fatal(err)
		}
		if err := svc.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		mustShutdown(t)
		mustShutdown(t)
		if _, err := Peers(); !errors.Is(err, &Error{Status: StatusNotInitialized}) {
			t.Fatalf("Peers after Shutdown: %v", err)
		}
	}
}

func TestHostCryptoIsReleasedOnShutdownAndOnFailedInit(t *testing.T) {
	c := goCrypto(t, "Org1MSP")
	initT(t, localConfig(t, "Org1MSP"), c)
	self, err := Self()
	if err != nil || self.PKIID != fmt.Sprintf("%x", c.PKIID()) {
		t.Fatalf("Self = %+v, %v; want PKI-ID %x", self, err, c.PKIID())
	}
	if n := liveTables.Load(); n != 1 {
		t.Fatalf("%d live callback tables while running, want 1", n)
	}
	mustShutdown(t)
	if n := liveTables.Load(); n != 0 {
		t.Fatalf("%d live callback tables after Shutdown: the release callback did not run", n)
	}
	err = Init(`{"peer": {"gossip": {"bogusKey": 1}}}`, c)
	if !errors.Is(err, &Error{Status: StatusConfig}) {
		t.Fatalf("bad config with host crypto: %v", err)
	}
	if n := liveTables.Load(); n != 0 {
		t.Fatalf("%d live callback tables after a failed Init", n)
	}
}

// longOrg outgrows the library's first 128-byte buffer for OrgOf.
type longOrg struct{ *identity.Ed25519 }

func TestOutputLargerThanTheFirstBufferIsRetried(t *testing.T) {
	mspid := "Org" + strings.Repeat("X", 300) + "MSP"
	c := goCrypto(t, mspid)
	// The config names another MSP ID: the org Self reports must come from OrgOf.
	initT(t, peerConfig(t.TempDir(), "Org1MSP", freePort(t), nil, nil, seedHex(0x40)), longOrg{c})
	self, err := Self()
	if err != nil || self.Org != mspid {
		t.Fatalf("Self().Org = %q (%v), want the %d-byte MSP ID", self.Org, err, len(mspid))
	}
}

// panicky panics when asked about any identity but its own.
type panicky struct {
	*identity.Ed25519
	self []byte
}

func (p panicky) ValidateIdentity(id []byte) error {
	if !bytes.Equal(id, p.self) {
		panic("host bug")
	}
	return p.Ed25519.ValidateIdentity(id)
}

func (p panicky) Verify(id, sig, msg []byte) error {
	if !bytes.Equal(id, p.self) {
		panic("host bug")
	}
	return p.Ed25519.Verify(id, sig, msg)
}

func TestPanicInACallbackBecomesAnErrorStatus(t *testing.T) {
	c := goCrypto(t, "Org1MSP")
	self, _ := c.SelfIdentity()
	port := freePort(t)
	before := CallbackPanics()
	initT(t, peerConfig(t.TempDir(), "Org1MSP", port, nil, bothOrgs, seedHex(0x40)), panicky{c, self})
	remote := startPeer(t, "remote", peerConfig(t.TempDir(), "Org1MSP", freePort(t),
		[]string{fmt.Sprintf("127.0.0.1:%d", port)}, bothOrgs, seedHex(0x41)))
	if !waitFor(15*time.Second, func() bool { return CallbackPanics() > before }) {
		t.Fatal("the remote peer's identity never reached a callback")
	}
	if !strings.Contains(LastCallbackPanic(), "host bug") {
		t.Errorf("LastCallbackPanic = %q", LastCallbackPanic())
	}
	// The process survived, the service still answers, and the peer was refused.
	time.Sleep(time.Second)
	peers, err := Peers()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		if p.PKIID == remote.pkiID() && p.Alive() {
			t.Fatal("a peer whose identity check panicked is alive in the view")
		}
	}
	mustShutdown(t)
}

// reentrant calls the library from inside Sign and records what it got.
type reentrant struct {
	*identity.Ed25519
	once sync.Once
	errs chan error
}

func (r *reentrant) Sign(msg []byte) ([]byte, error) {
	r.once.Do(func() {
		_, e1 := Peers()
		_, e2 := Self()
		e3 := Shutdown()
		e4 := SetLogger(func(int, string, string) {}, LogInfo)
		r.errs <- errors.Join(e1, e2, e3, e4)
		for _, e := range []error{e1, e2, e3, e4} {
			r.errs <- e
		}
	})
	return r.Ed25519.Sign(msg)
}

func TestReentryFromACallbackGetsReentrant(t *testing.T) {
	r := &reentrant{Ed25519: goCrypto(t, "Org1MSP"), errs: make(chan error, 5)}
	port := freePort(t)
	initT(t, peerConfig(t.TempDir(), "Org1MSP", port, nil, bothOrgs, seedHex(0x40)), r)
	// A remote peer makes the service sign (handshakes, alive messages).
	startPeer(t, "remote", peerConfig(t.TempDir(), "Org1MSP", freePort(t),
		[]string{fmt.Sprintf("127.0.0.1:%d", port)}, bothOrgs, seedHex(0x42)))
	select {
	case <-r.errs:
	case <-time.After(15 * time.Second):
		t.Fatal("Sign was never called")
	}
	for i, name := range []string{"Peers", "Self", "Shutdown", "SetLogger"} {
		if err := <-r.errs; !errors.Is(err, &Error{Status: StatusReentrant}) {
			t.Errorf("%s inside a callback: %v, want FG_STATUS_REENTRANT (%d)", name, err, i)
		}
	}
	// The refused Shutdown left the service running.
	if _, err := Peers(); err != nil {
		t.Fatalf("Peers after the callback: %v", err)
	}
	mustShutdown(t)
}

func TestLoggerReceivesLinesAndSurvivesPanicsAndReentry(t *testing.T) {
	var lines atomic.Int64
	var reentry atomic.Value
	var once sync.Once
	var mu sync.Mutex
	var targets []string
	err := SetLogger(func(level int, target, msg string) {
		once.Do(func() {
			_, err := Peers()
			reentry.Store(fmt.Sprint(err))
		})
		lines.Add(1)
		mu.Lock()
		targets = append(targets, target)
		mu.Unlock()
		if strings.Contains(msg, "stopped") {
			panic("logger bug")
		}
	}, LogInfo)
	if err != nil {
		t.Fatal(err)
	}
	defer SetLogger(nil, LogOff)
	before := CallbackPanics()
	if err := Init(localConfig(t, "Org1MSP"), nil); err != nil {
		t.Fatal(err)
	}
	mustShutdown(t)
	if lines.Load() == 0 {
		t.Fatal("no log line reached the Go logger")
	}
	mu.Lock()
	if !strings.HasPrefix(targets[0], "fabgossip") {
		t.Errorf("log target %q", targets[0])
	}
	mu.Unlock()
	if s, _ := reentry.Load().(string); !strings.Contains(s, "FG_STATUS_REENTRANT") {
		t.Errorf("Peers inside the logger: %q", s)
	}
	if CallbackPanics() == before {
		t.Error("the logger's panic was not recovered and counted")
	}
	if err := SetLogger(func(int, string, string) {}, 9); !errors.Is(err, &Error{Status: StatusInvalidArg}) {
		t.Errorf("level 9: %v", err)
	}
	// Off: no more lines.
	if err := SetLogger(nil, LogOff); err != nil {
		t.Fatal(err)
	}
	n := lines.Load()
	if err := Init(localConfig(t, "Org1MSP"), nil); err != nil {
		t.Fatal(err)
	}
	mustShutdown(t)
	if lines.Load() != n {
		t.Error("lines logged after SetLogger(nil, LogOff)")
	}
}

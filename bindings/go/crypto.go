package fabgossip

import (
	"errors"
	"sync/atomic"
	"time"
)

// MessageCryptoService is the host's identity and crypto provider: Fabric's
// MessageCryptoService together with its SecurityAdvisor (OrgOf).
//
// Contract (the library's fg_callbacks rules):
//   - Methods run on library worker threads, several at once: they must be thread-safe.
//   - Arguments are copies the method may keep.
//   - They must be quick: gossip traffic waits on the answer.
//   - Calling any package function (Peers, Self, Shutdown, ...) from inside a method fails
//     with StatusReentrant.
//   - A returned error is a refusal. An *Error carries its own status to the library;
//     any other error becomes StatusCrypto (checks) or StatusCallbackFailed (producers).
//     A panic is recovered and becomes StatusCallbackFailed, counted by CallbackPanics.
//   - No method runs after Shutdown returns.
type MessageCryptoService interface {
	// SelfIdentity is this peer's serialized identity (an msp.SerializedIdentity), read
	// once by Init.
	SelfIdentity() ([]byte, error)
	// Sign signs msg with this peer's key.
	Sign(msg []byte) ([]byte, error)
	// Verify checks that signature over msg was made by identity.
	Verify(identity, signature, msg []byte) error
	// VerifyByChannel is Verify plus: the signer satisfies channel's readers policy.
	VerifyByChannel(channel string, identity, signature, msg []byte) error
	// VerifyBlock checks that block (a serialized common.Block) is valid for channel at
	// sequence number seq.
	VerifyBlock(channel string, seq uint64, block []byte) error
	// ValidateIdentity checks that identity is well formed, trusted and not revoked.
	ValidateIdentity(identity []byte) error
	// OrgOf is the MSP ID of identity's organization.
	OrgOf(identity []byte) (string, error)
	// Expiration is when identity expires; the zero time means never.
	Expiration(identity []byte) (time.Time, error)
}

// PKIidProvider is implemented by a MessageCryptoService that computes PKI-IDs itself
// (Fabric's GetPKIidOfCert). Without it the library uses SHA-256(mspid ‖ id_bytes) of
// the msp.SerializedIdentity.
type PKIidProvider interface {
	PKIidOf(identity []byte) ([]byte, error)
}

// ErrNeverExpires may be returned by Expiration instead of the zero time.
var ErrNeverExpires = errors.New("identity never expires")

// hostTable is what the library's user_data handle points at for one Init.
type hostTable struct {
	mcs MessageCryptoService
	pki PKIidProvider // nil: the library's default PKI-ID
}

// liveTables counts host tables handed to the library and not yet released.
var liveTables atomic.Int64

func newHostTable(mcs MessageCryptoService) *hostTable {
	liveTables.Add(1)
	t := &hostTable{mcs: mcs}
	if p, ok := mcs.(PKIidProvider); ok {
		t.pki = p
	}
	return t
}

var (
	callbackPanics    atomic.Uint64
	lastCallbackPanic atomic.Value // string
)

// CallbackPanics counts panics recovered in host callbacks (crypto and log) since the
// process started; each one was reported to the library as an error status.
func CallbackPanics() uint64 { return callbackPanics.Load() }

// LastCallbackPanic describes the most recent recovered panic ("" when none).
func LastCallbackPanic() string {
	s, _ := lastCallbackPanic.Load().(string)
	return s
}

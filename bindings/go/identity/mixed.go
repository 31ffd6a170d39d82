package identity

import (
	"errors"
	"time"
)

// Provider is the method set of fabgossip.MessageCryptoService, repeated here so this
// package needs no cgo; every provider of this package satisfies both.
type Provider interface {
	SelfIdentity() ([]byte, error)
	Sign(msg []byte) ([]byte, error)
	Verify(identity, signature, msg []byte) error
	VerifyByChannel(channel string, identity, signature, msg []byte) error
	VerifyBlock(channel string, seq uint64, block []byte) error
	ValidateIdentity(identity []byte) error
	OrgOf(identity []byte) (string, error)
	Expiration(identity []byte) (time.Time, error)
}

// Mixed signs as Self and checks every other identity with the verifier of its kind:
// X509 when id_bytes is a PEM certificate, Ed25519 otherwise. A nil verifier means that
// kind is not trusted at all. This is how a network of X.509 (Fabric MSP) peers and
// Ed25519 peers becomes one view: every peer must trust both kinds.
type Mixed struct {
	Self    Provider
	X509    *X509    // nil: X.509 identities are refused
	Ed25519 *Ed25519 // nil: Ed25519 identities are refused
}

var (
	errX509NotTrusted    = errors.New("X.509 identities are not trusted")
	errEd25519NotTrusted = errors.New("Ed25519 identities are not trusted")
)

// verifier picks the provider that understands identity.
func (m *Mixed) verifier(identity []byte) (Provider, error) {
	sid, err := ParseSerializedIdentity(identity)
	if err != nil {
		return nil, err
	}
	if IsX509Identity(sid.IDBytes) {
		if m.X509 == nil {
			return nil, errX509NotTrusted
		}
		return m.X509, nil
	}
	if m.Ed25519 == nil {
		return nil, errEd25519NotTrusted
	}
	return m.Ed25519, nil
}

func (m *Mixed) SelfIdentity() ([]byte, error)   { return m.Self.SelfIdentity() }
func (m *Mixed) Sign(msg []byte) ([]byte, error) { return m.Self.Sign(msg) }

func (m *Mixed) Verify(identity, signature, msg []byte) error {
	v, err := m.verifier(identity)
	if err != nil {
		return err
	}
	return v.Verify(identity, signature, msg)
}

func (m *Mixed) VerifyByChannel(channel string, identity, signature, msg []byte) error {
	v, err := m.verifier(identity)
	if err != nil {
		return err
	}
	return v.VerifyByChannel(channel, identity, signature, msg)
}

// VerifyBlock is Self's: blocks come from the orderer, not from peers of either kind.
func (m *Mixed) VerifyBlock(channel string, seq uint64, block []byte) error {
	return m.Self.VerifyBlock(channel, seq, block)
}

func (m *Mixed) ValidateIdentity(identity []byte) error {
	v, err := m.verifier(identity)
	if err != nil {
		return err
	}
	return v.ValidateIdentity(identity)
}

func (m *Mixed) OrgOf(identity []byte) (string, error) {
	sid, err := ParseSerializedIdentity(identity)
	if err != nil {
		return "", err
	}
	return sid.MSPID, nil
}

func (m *Mixed) Expiration(identity []byte) (time.Time, error) {
	v, err := m.verifier(identity)
	if err != nil {
		return time.Time{}, err
	}
	return v.Expiration(identity)
}

// PKIidOf is SHA-256(mspid ‖ id_bytes) for both kinds.
func (m *Mixed) PKIidOf(identity []byte) ([]byte, error) {
	sid, err := ParseSerializedIdentity(identity)
	if err != nil {
		return nil, err
	}
	return DefaultPKIID(sid.MSPID, sid.IDBytes), nil
}

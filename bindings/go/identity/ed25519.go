package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Ed25519 is a MessageCryptoService with the library's built-in identity kind:
// msp.SerializedIdentity{mspid, id_bytes = raw 32-byte Ed25519 public key}, PKI-ID =
// SHA-256(mspid ‖ id_bytes), org = mspid, signatures Ed25519 over the exact bytes.
// Peers using it and peers using the built-in crypto with the same seed are
// indistinguishable on the wire.
//
// Trust follows the built-in rules: an identity is valid when its org is this peer's own,
// one of the trusted orgs, or a member org of a channel set with SetChannelOrgs;
// VerifyByChannel requires the channel's org list to hold the signer's org; VerifyBlock
// checks an orderer signature only for channels given keys with SetOrdererKeys.
type Ed25519 struct {
	mspid    string
	key      ed25519.PrivateKey
	identity []byte

	mu          sync.RWMutex
	orgs        map[string]bool
	channels    map[string]map[string]bool
	ordererKeys map[string][]ed25519.PublicKey
}

// NewEd25519 is the identity of a peer of mspid whose key derives from the 32-byte seed.
func NewEd25519(mspid string, seed []byte, trustedOrgs []string) (*Ed25519, error) {
	if mspid == "" {
		return nil, errors.New("empty MSP ID")
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("Ed25519 seed has %d bytes, expected %d", len(seed), ed25519.SeedSize)
	}
	key := ed25519.NewKeyFromSeed(seed)
	c := &Ed25519{
		mspid:       mspid,
		key:         key,
		identity:    SerializedIdentity{MSPID: mspid, IDBytes: key.Public().(ed25519.PublicKey)}.Marshal(),
		orgs:        map[string]bool{mspid: true},
		channels:    map[string]map[string]bool{},
		ordererKeys: map[string][]ed25519.PublicKey{},
	}
	for _, o := range trustedOrgs {
		c.orgs[o] = true
	}
	return c, nil
}

// NewEd25519Verifier checks Ed25519 identities of trustedOrgs but has none of its own
// (for Mixed).
func NewEd25519Verifier(trustedOrgs []string) *Ed25519 {
	c := &Ed25519{
		orgs:        map[string]bool{},
		channels:    map[string]map[string]bool{},
		ordererKeys: map[string][]ed25519.PublicKey{},
	}
	for _, o := range trustedOrgs {
		c.orgs[o] = true
	}
	return c
}

// NewEd25519FromHex is NewEd25519 with the seed as 64 hex digits (fabgossip.identitySeed).
func NewEd25519FromHex(mspid, seedHex string, trustedOrgs []string) (*Ed25519, error) {
	seed, err := hex.DecodeString(strings.TrimSpace(seedHex))
	if err != nil {
		return nil, fmt.Errorf("Ed25519 seed is not hex: %w", err)
	}
	return NewEd25519(mspid, seed, trustedOrgs)
}

// PublicKey is this peer's public key.
func (c *Ed25519) PublicKey() ed25519.PublicKey { return c.key.Public().(ed25519.PublicKey) }

// PKIID is this peer's PKI-ID.
func (c *Ed25519) PKIID() []byte { return DefaultPKIID(c.mspid, c.PublicKey()) }

// TrustOrg adds an org whose identities are valid.
func (c *Ed25519) TrustOrg(org string) {
	c.mu.Lock()
	c.orgs[org] = true
	c.mu.Unlock()
}

// SetChannelOrgs sets the orgs whose members may sign for channel (its readers).
func (c *Ed25519) SetChannelOrgs(channel string, orgs []string) {
	m := map[string]bool{}
	for _, o := range orgs {
		m[o] = true
	}
	c.mu.Lock()
	c.channels[channel] = m
	c.mu.Unlock()
}

// SetOrdererKeys sets the orderer keys VerifyBlock accepts for channel.
func (c *Ed25519) SetOrdererKeys(channel string, keys []ed25519.PublicKey) {
	c.mu.Lock()
	c.ordererKeys[channel] = append([]ed25519.PublicKey(nil), keys...)
	c.mu.Unlock()
}

// SelfIdentity is this peer's serialized identity.
func (c *Ed25519) SelfIdentity() ([]byte, error) {
	if c.key == nil {
		return nil, errors.New("Ed25519 verifier has no identity")
	}
	return append([]byte(nil), c.identity...), nil
}

// Sign signs msg.
func (c *Ed25519) Sign(msg []byte) ([]byte, error) {
	if c.key == nil {
		return nil, errors.New("Ed25519 verifier has no signing key")
	}
	return ed25519.Sign(c.key, msg), nil
}

// Verify checks signature over msg against identity's key.
func (c *Ed25519) Verify(identity, signature, msg []byte) error {
	_, key, err := decodeEd25519(identity)
	if err != nil {
		return err
	}
	if !ed25519.Verify(key, msg, signature) {
		return errors.New("bad signature")
	}
	return nil
}

// VerifyByChannel is Verify plus: the signer's org is a member of channel.
func (c *Ed25519) VerifyByChannel(channel string, identity, signature, msg []byte) error {
	sid, _, err := decodeEd25519(identity)
	if err != nil {
		return err
	}
	c.mu.RLock()
	member := c.channels[channel][sid.MSPID]
	c.mu.RUnlock()
	if !member {
		return fmt.Errorf("org %s is not a member of channel %s", sid.MSPID, channel)
	}
	return c.Verify(identity, signature, msg)
}

// VerifyBlock applies Fabric's block checks, with an orderer signature required when
// SetOrdererKeys named keys for channel.
func (c *Ed25519) VerifyBlock(channel string, seq uint64, block []byte) error {
	c.mu.RLock()
	keys := c.ordererKeys[channel]
	c.mu.RUnlock()
	var check signatureCheck
	if len(keys) > 0 {
		check = func(creator, sig, signed []byte) bool {
			_, key, err := decodeEd25519(creator)
			if err != nil {
				return false
			}
			for _, k := range keys {
				if bytes.Equal(k, key) {
					return ed25519.Verify(key, signed, sig)
				}
			}
			return false
		}
	}
	return verifyBlock(channel, seq, block, check)
}

// ValidateIdentity accepts a well-formed Ed25519 identity of a trusted org.
func (c *Ed25519) ValidateIdentity(identity []byte) error {
	sid, _, err := decodeEd25519(identity)
	if err != nil {
		return err
	}
	if !c.trusts(sid.MSPID) {
		return fmt.Errorf("org %s is not trusted", sid.MSPID)
	}
	return nil
}

func (c *Ed25519) trusts(org string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.orgs[org] {
		return true
	}
	for _, orgs := range c.channels {
		if orgs[org] {
			return true
		}
	}
	return false
}

// OrgOf is identity's MSP ID.
func (c *Ed25519) OrgOf(identity []byte) (string, error) {
	sid, err := ParseSerializedIdentity(identity)
	if err != nil {
		return "", err
	}
	return sid.MSPID, nil
}

// Expiration: raw keys never expire (the zero time), but the identity must decode.
func (c *Ed25519) Expiration(identity []byte) (time.Time, error) {
	_, err := ParseSerializedIdentity(identity)
	return time.Time{}, err
}

// DefaultPKIID is SHA-256(mspid ‖ id_bytes), the PKI-ID of a serialized identity.
func DefaultPKIID(mspid string, idBytes []byte) []byte {
	h := sha256.New()
	h.Write([]byte(mspid))
	h.Write(idBytes)
	return h.Sum(nil)
}

// decodeEd25519 decodes an identity whose id_bytes is an Ed25519 public key.
func decodeEd25519(identity []byte) (SerializedIdentity, ed25519.PublicKey, error) {
	sid, err := ParseSerializedIdentity(identity)
	if err != nil {
		return sid, nil, err
	}
	if len(sid.IDBytes) != ed25519.PublicKeySize {
		return sid, nil, fmt.Errorf("id_bytes is %d bytes, an Ed25519 public key is %d", len(sid.IDBytes), ed25519.PublicKeySize)
	}
	return sid, ed25519.PublicKey(sid.IDBytes), nil
}

package main

// Ed25519 MessageCryptoService and SecurityAdvisor matching fabgossip's built-in
// default: identity = msp.SerializedIdentity{mspid, id_bytes = raw 32-byte Ed25519
// public key}, PKI-ID = SHA-256(mspid ‖ id_bytes), org = mspid.

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/golang/protobuf/proto"
	cb "github.com/hyperledger/fabric-protos-go/common"
	"github.com/hyperledger/fabric-protos-go/msp"
	"github.com/hyperledger/fabric/gossip/api"
	"github.com/hyperledger/fabric/gossip/common"
	"github.com/hyperledger/fabric/protoutil"
)

// edIdentity is a decoded built-in identity.
type edIdentity struct {
	mspID string
	key   ed25519.PublicKey
}

// decodeIdentity parses a SerializedIdentity and checks its key is a 32-byte Ed25519 key.
func decodeIdentity(raw api.PeerIdentityType) (*edIdentity, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("empty identity")
	}
	sid := &msp.SerializedIdentity{}
	if err := proto.Unmarshal(raw, sid); err != nil {
		return nil, fmt.Errorf("identity is not a SerializedIdentity: %w", err)
	}
	if sid.Mspid == "" {
		return nil, fmt.Errorf("identity has an empty mspid")
	}
	if len(sid.IdBytes) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("identity of %s carries %d key bytes, want %d", sid.Mspid, len(sid.IdBytes), ed25519.PublicKeySize)
	}
	return &edIdentity{mspID: sid.Mspid, key: ed25519.PublicKey(sid.IdBytes)}, nil
}

// serializeIdentity builds the wire identity of a local Ed25519 key.
func serializeIdentity(mspID string, pub ed25519.PublicKey) (api.PeerIdentityType, error) {
	return proto.Marshal(&msp.SerializedIdentity{Mspid: mspID, IdBytes: pub})
}

// pkiIDOf computes SHA-256(mspid ‖ id_bytes).
func pkiIDOf(mspID string, pub []byte) common.PKIidType {
	h := sha256.New()
	h.Write([]byte(mspID))
	h.Write(pub)
	return h.Sum(nil)
}

type edCrypto struct {
	signer  ed25519.PrivateKey
	trusted map[string]bool

	mu          sync.RWMutex
	channelOrgs map[string]map[string]bool // channel → orgs allowed to sign for it
}

func newEdCrypto(signer ed25519.PrivateKey, trustedOrgs []string) *edCrypto {
	t := make(map[string]bool, len(trustedOrgs))
	for _, o := range trustedOrgs {
		t[o] = true
	}
	return &edCrypto{signer: signer, trusted: t, channelOrgs: map[string]map[string]bool{}}
}

// setChannelOrgs records the member orgs of a channel for VerifyByChannel.
func (c *edCrypto) setChannelOrgs(channel string, orgs []string) {
	set := make(map[string]bool, len(orgs))
	for _, o := range orgs {
		set[o] = true
	}
	c.mu.Lock()
	c.channelOrgs[channel] = set
	c.mu.Unlock()
}

func (c *edCrypto) GetPKIidOfCert(peerIdentity api.PeerIdentityType) common.PKIidType {
	id, err := decodeIdentity(peerIdentity)
	if err != nil {
		return nil
	}
	return pkiIDOf(id.mspID, id.key)
}

// VerifyBlock applies the structural checks of the built-in default; orderer
// signatures are not configured on this harness yet.
func (c *edCrypto) VerifyBlock(channelID common.ChannelID, seqNum uint64, block *cb.Block) error {
	if block == nil || block.Header == nil {
		return fmt.Errorf("block of channel %s has no header", string(channelID))
	}
	if block.Header.Number != seqNum {
		return fmt.Errorf("block number %d differs from claimed sequence %d", block.Header.Number, seqNum)
	}
	if block.Data == nil {
		return fmt.Errorf("block %d has no data", seqNum)
	}
	if !bytes.Equal(protoutil.BlockDataHash(block.Data), block.Header.DataHash) {
		return fmt.Errorf("block %d data hash mismatch", seqNum)
	}
	if block.Metadata == nil || len(block.Metadata.Metadata) == 0 {
		return fmt.Errorf("block %d has no metadata", seqNum)
	}
	return nil
}

func (c *edCrypto) Sign(msg []byte) ([]byte, error) {
	return ed25519.Sign(c.signer, msg), nil
}

func (c *edCrypto) Verify(peerIdentity api.PeerIdentityType, signature, message []byte) error {
	id, err := decodeIdentity(peerIdentity)
	if err != nil {
		return err
	}
	if !ed25519.Verify(id.key, message, signature) {
		return fmt.Errorf("bad Ed25519 signature from %s", id.mspID)
	}
	return nil
}

func (c *edCrypto) VerifyByChannel(channelID common.ChannelID, peerIdentity api.PeerIdentityType, signature, message []byte) error {
	id, err := decodeIdentity(peerIdentity)
	if err != nil {
		return err
	}
	c.mu.RLock()
	orgs, known := c.channelOrgs[string(channelID)]
	member := known && orgs[id.mspID]
	c.mu.RUnlock()
	if !member {
		return fmt.Errorf("org %s is not a member of channel %s", id.mspID, string(channelID))
	}
	return c.Verify(peerIdentity, signature, message)
}

func (c *edCrypto) ValidateIdentity(peerIdentity api.PeerIdentityType) error {
	id, err := decodeIdentity(peerIdentity)
	if err != nil {
		return err
	}
	if !c.trusted[id.mspID] {
		return fmt.Errorf("org %s is not trusted", id.mspID)
	}
	return nil
}

// Expiration: built-in identities do not expire (zero time means none).
func (c *edCrypto) Expiration(peerIdentity api.PeerIdentityType) (time.Time, error) {
	if _, err := decodeIdentity(peerIdentity); err != nil {
		return time.Time{}, err
	}
	return time.Time{}, nil
}

// OrgByPeerIdentity implements api.SecurityAdvisor: the org is the mspid.
func (c *edCrypto) OrgByPeerIdentity(peerIdentity api.PeerIdentityType) api.OrgIdentityType {
	id, err := decodeIdentity(peerIdentity)
	if err != nil {
		return nil
	}
	return api.OrgIdentityType(id.mspID)
}

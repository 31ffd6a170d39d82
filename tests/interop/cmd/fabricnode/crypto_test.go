package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/golang/protobuf/proto"
	cb "github.com/hyperledger/fabric-protos-go/common"
	pg "github.com/hyperledger/fabric-protos-go/gossip"
	"github.com/hyperledger/fabric/gossip/api"
	"github.com/hyperledger/fabric/gossip/common"
)

// The wire vectors were produced by Fabric's own code with fabgossip's built-in
// identity; the harness's MCS must agree with them byte for byte.
type vector struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Hex         string            `json:"hex"`
	Extra       map[string]string `json:"extra"`
}

func loadVectors(t *testing.T) map[string]vector {
	t.Helper()
	raw, err := os.ReadFile("../../../fabric-wire-vectors.json")
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var file struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("parse vectors: %v", err)
	}
	m := map[string]vector{}
	for _, v := range file.Vectors {
		m[v.Name] = v
	}
	return m
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func signerOf(t *testing.T, v vector) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(mustHex(t, v.Extra["ed25519_seed_hex"]))
}

func TestIdentityAndPKIIDMatchWireVectors(t *testing.T) {
	vs := loadVectors(t)
	n := 0
	for name, v := range vs {
		if !strings.HasPrefix(name, "identity_") {
			continue
		}
		n++
		pub := signerOf(t, v).Public().(ed25519.PublicKey)
		if got := hex.EncodeToString(pub); got != v.Extra["public_key_hex"] {
			t.Errorf("%s: public key %s, want %s", name, got, v.Extra["public_key_hex"])
		}
		id, err := serializeIdentity(v.Extra["mspid"], pub)
		if err != nil {
			t.Fatalf("%s: serialize: %v", name, err)
		}
		if got := hex.EncodeToString(id); got != v.Hex {
			t.Errorf("%s: identity bytes %s, want %s", name, got, v.Hex)
		}
		mcs := newEdCrypto(signerOf(t, v), []string{v.Extra["mspid"]})
		if got := hex.EncodeToString(mcs.GetPKIidOfCert(api.PeerIdentityType(mustHex(t, v.Hex)))); got != v.Extra["pki_id_hex"] {
			t.Errorf("%s: PKI-ID %s, want %s", name, got, v.Extra["pki_id_hex"])
		}
		if got := string(mcs.OrgByPeerIdentity(mustHex(t, v.Hex))); got != v.Extra["mspid"] {
			t.Errorf("%s: org %q, want %q", name, got, v.Extra["mspid"])
		}
	}
	if n < 3 {
		t.Fatalf("only %d identity vectors found", n)
	}
}

func TestSignedEnvelopeVectorsVerifyAndSignIdentically(t *testing.T) {
	vs := loadVectors(t)
	signerVec := vs["identity_org1_peer0"]
	identity := api.PeerIdentityType(mustHex(t, signerVec.Hex))
	mcs := newEdCrypto(signerOf(t, signerVec), []string{"Org1MSP"})
	for _, name := range []string{"env_conn_signed", "env_alive_signed", "env_state_info_signed", "env_leadership_signed", "env_peer_identity_signed"} {
		v, ok := vs[name]
		if !ok {
			t.Fatalf("vector %s missing", name)
		}
		if !strings.Contains(v.Description, "identity_org1_peer0") {
			t.Fatalf("%s: signer is not identity_org1_peer0: %s", name, v.Description)
		}
		env := &pg.Envelope{}
		if err := proto.Unmarshal(mustHex(t, v.Hex), env); err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if err := mcs.Verify(identity, env.Signature, env.Payload); err != nil {
			t.Errorf("%s: Fabric-made signature rejected: %v", name, err)
		}
		sig, err := mcs.Sign(env.Payload)
		if err != nil {
			t.Fatalf("%s: sign: %v", name, err)
		}
		if !bytes.Equal(sig, env.Signature) {
			t.Errorf("%s: our signature differs from Fabric's (Ed25519 is deterministic)", name)
		}
		tampered := append([]byte{}, env.Payload...)
		tampered[len(tampered)-1] ^= 1
		if err := mcs.Verify(identity, env.Signature, tampered); err == nil {
			t.Errorf("%s: tampered payload verified", name)
		}
	}
}

func TestValidateIdentityAcceptsOnlyWellFormedKeysOfTrustedOrgs(t *testing.T) {
	vs := loadVectors(t)
	mcs := newEdCrypto(signerOf(t, vs["identity_org1_peer0"]), []string{"Org1MSP"})
	if err := mcs.ValidateIdentity(mustHex(t, vs["identity_org1_peer0"].Hex)); err != nil {
		t.Errorf("trusted Org1MSP identity rejected: %v", err)
	}
	if err := mcs.ValidateIdentity(mustHex(t, vs["identity_org2_peer0"].Hex)); err == nil {
		t.Error("Org2MSP identity accepted though only Org1MSP is trusted")
	}
	bad := [][]byte{
		nil,
		{0xff, 0x01, 0x02},
		mustSerialized(t, "Org1MSP", make([]byte, 31)),
		mustSerialized(t, "", make([]byte, 32)),
	}
	for i, b := range bad {
		if err := mcs.ValidateIdentity(b); err == nil {
			t.Errorf("malformed identity %d accepted", i)
		}
		if id := mcs.GetPKIidOfCert(b); id != nil {
			t.Errorf("malformed identity %d got a PKI-ID", i)
		}
	}
}

func mustSerialized(t *testing.T, mspID string, key []byte) []byte {
	t.Helper()
	b, err := serializeIdentity(mspID, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyByChannelRequiresSignerOrgInChannel(t *testing.T) {
	vs := loadVectors(t)
	v := vs["identity_org1_peer0"]
	mcs := newEdCrypto(signerOf(t, v), []string{"Org1MSP"})
	msg := []byte("state info")
	sig, _ := mcs.Sign(msg)
	id := api.PeerIdentityType(mustHex(t, v.Hex))
	if err := mcs.VerifyByChannel(common.ChannelID("mychannel"), id, sig, msg); err == nil {
		t.Error("verified for a channel whose orgs are unknown")
	}
	mcs.setChannelOrgs("mychannel", []string{"Org2MSP"})
	if err := mcs.VerifyByChannel(common.ChannelID("mychannel"), id, sig, msg); err == nil {
		t.Error("verified for a channel without the signer's org")
	}
	mcs.setChannelOrgs("mychannel", []string{"Org1MSP", "Org2MSP"})
	if err := mcs.VerifyByChannel(common.ChannelID("mychannel"), id, sig, msg); err != nil {
		t.Errorf("member org rejected: %v", err)
	}
	if err := mcs.VerifyByChannel(common.ChannelID("mychannel"), id, sig, []byte("other")); err == nil {
		t.Error("bad signature accepted by VerifyByChannel")
	}
}

func TestVerifyBlockChecksNumberAndDataHash(t *testing.T) {
	vs := loadVectors(t)
	mcs := newEdCrypto(signerOf(t, vs["identity_org1_peer0"]), []string{"Org1MSP"})
	decode := func() *cb.Block {
		b := &cb.Block{}
		if err := proto.Unmarshal(mustHex(t, vs["block_5_signed"].Hex), b); err != nil {
			t.Fatalf("decode block: %v", err)
		}
		return b
	}
	if err := mcs.VerifyBlock(common.ChannelID("mychannel"), 5, decode()); err != nil {
		t.Errorf("Fabric-made block 5 rejected: %v", err)
	}
	if err := mcs.VerifyBlock(common.ChannelID("mychannel"), 6, decode()); err == nil {
		t.Error("block 5 accepted as sequence 6")
	}
	b := decode()
	b.Data.Data[0] = []byte("forged")
	if err := mcs.VerifyBlock(common.ChannelID("mychannel"), 5, b); err == nil {
		t.Error("block with altered data accepted")
	}
	b = decode()
	b.Header = nil
	if err := mcs.VerifyBlock(common.ChannelID("mychannel"), 5, b); err == nil {
		t.Error("block without header accepted")
	}
	b = decode()
	b.Metadata = nil
	if err := mcs.VerifyBlock(common.ChannelID("mychannel"), 5, b); err == nil {
		t.Error("block without metadata accepted")
	}
}

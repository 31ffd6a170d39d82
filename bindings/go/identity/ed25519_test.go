package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// vector is one entry of tests/fabric-wire-vectors.json (produced with Fabric's own code).
type vector struct {
	Name  string            `json:"name"`
	Hex   string            `json:"hex"`
	Extra map[string]string `json:"extra"`
}

func vectors(t *testing.T) map[string]vector {
	t.Helper()
	raw, err := os.ReadFile("../../../tests/fabric-wire-vectors.json")
	if err != nil {
		t.Fatalf("wire vectors: %v", err)
	}
	var file struct {
		Vectors []json.RawMessage `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	out := map[string]vector{}
	for _, r := range file.Vectors {
		var v vector
		// Entries whose extra holds non-strings are not needed here.
		if json.Unmarshal(r, &v) == nil {
			out[v.Name] = v
		}
	}
	return out
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEd25519IdentityMatchesTheWireVectors(t *testing.T) {
	vs := vectors(t)
	for _, name := range []string{"identity_org1_peer0", "identity_org2_peer0", "identity_orderer0"} {
		v, ok := vs[name]
		if !ok {
			t.Fatalf("vector %s missing", name)
		}
		c, err := NewEd25519FromHex(v.Extra["mspid"], v.Extra["ed25519_seed_hex"], nil)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := c.SelfIdentity()
		if got := hex.EncodeToString(id); got != v.Hex {
			t.Errorf("%s: identity %s, want %s", name, got, v.Hex)
		}
		if got := hex.EncodeToString(c.PKIID()); got != v.Extra["pki_id_hex"] {
			t.Errorf("%s: PKI-ID %s, want %s", name, got, v.Extra["pki_id_hex"])
		}
		sid, err := ParseSerializedIdentity(id)
		if err != nil || sid.MSPID != v.Extra["mspid"] || hex.EncodeToString(sid.IDBytes) != v.Extra["public_key_hex"] {
			t.Errorf("%s: parsed %+v, %v", name, sid, err)
		}
	}
}

func TestEd25519VerifiesTheSignedAliveVector(t *testing.T) {
	vs := vectors(t)
	env := unhex(t, vs["env_alive_signed"].Hex)
	payload, _ := bytesField(env, 1)
	sig, _ := bytesField(env, 2)
	c, _ := NewEd25519(("Org2MSP"), bytes.Repeat([]byte{2}, 32), []string{"Org1MSP"})
	org1 := unhex(t, vs["identity_org1_peer0"].Hex)
	if err := c.Verify(org1, sig, payload); err != nil {
		t.Fatalf("Fabric-signed alive refused: %v", err)
	}
	tampered := append([]byte(nil), payload...)
	tampered[len(tampered)-1] ^= 1
	if c.Verify(org1, sig, tampered) == nil {
		t.Fatal("tampered payload accepted")
	}
}

func TestEd25519TrustRules(t *testing.T) {
	a, _ := NewEd25519("Org1MSP", bytes.Repeat([]byte{1}, 32), []string{"Org2MSP"})
	b, _ := NewEd25519("Org2MSP", bytes.Repeat([]byte{2}, 32), nil)
	c, _ := NewEd25519("Org3MSP", bytes.Repeat([]byte{3}, 32), nil)
	self, _ := a.SelfIdentity()
	idB, _ := b.SelfIdentity()
	idC, _ := c.SelfIdentity()
	if err := a.ValidateIdentity(self); err != nil {
		t.Errorf("own org refused: %v", err)
	}
	if err := a.ValidateIdentity(idB); err != nil {
		t.Errorf("trusted org refused: %v", err)
	}
	if err := a.ValidateIdentity(idC); err == nil || !strings.Contains(err.Error(), "Org3MSP") {
		t.Errorf("untrusted org: %v", err)
	}
	a.SetChannelOrgs("ch", []string{"Org1MSP", "Org3MSP"})
	if err := a.ValidateIdentity(idC); err != nil {
		t.Errorf("channel member org refused: %v", err)
	}
	sigB, _ := b.Sign([]byte("m"))
	if err := a.VerifyByChannel("ch", idB, sigB, []byte("m")); err == nil {
		t.Error("signer of a non-member org accepted on the channel")
	}
	sigC, _ := c.Sign([]byte("m"))
	if err := a.VerifyByChannel("ch", idC, sigC, []byte("m")); err != nil {
		t.Errorf("member refused: %v", err)
	}
	if err := a.VerifyByChannel("other", idC, sigC, []byte("m")); err == nil {
		t.Error("unknown channel accepted")
	}
	for _, bad := range [][]byte{nil, {0xff, 0xff}, SerializedIdentity{MSPID: "X", IDBytes: []byte{1, 2}}.Marshal()} {
		if a.ValidateIdentity(bad) == nil {
			t.Errorf("malformed identity %x accepted", bad)
		}
	}
	if org, err := a.OrgOf(idB); err != nil || org != "Org2MSP" {
		t.Errorf("OrgOf = %q, %v", org, err)
	}
	if at, err := a.Expiration(idB); err != nil || !at.IsZero() {
		t.Errorf("Expiration = %v, %v", at, err)
	}
	if _, err := NewEd25519("Org1MSP", []byte{1}, nil); err == nil {
		t.Error("short seed accepted")
	}
}

func TestVerifyBlockOnTheSignedBlockVector(t *testing.T) {
	vs := vectors(t)
	v := vs["block_5_signed"]
	block := unhex(t, v.Hex)
	if got := hex.EncodeToString(HeaderBytes(5, make([]byte, 32), unhex(t, v.Extra["data_hash_hex"]))); got != v.Extra["header_asn1_hex"] {
		t.Fatalf("header bytes %s, want %s", got, v.Extra["header_asn1_hex"])
	}
	c, _ := NewEd25519("Org1MSP", bytes.Repeat([]byte{1}, 32), nil)
	if err := c.VerifyBlock("mychannel", 5, block); err != nil {
		t.Fatalf("no orderer keys: %v", err)
	}
	orderer := ed25519.PublicKey(unhex(t, vs["identity_orderer0"].Extra["public_key_hex"]))
	c.SetOrdererKeys("mychannel", []ed25519.PublicKey{orderer})
	if err := c.VerifyBlock("mychannel", 5, block); err != nil {
		t.Fatalf("orderer-signed block refused: %v", err)
	}
	cases := map[string]func() error{
		"wrong sequence": func() error { return c.VerifyBlock("mychannel", 6, block) },
		"garbage":        func() error { return c.VerifyBlock("mychannel", 5, []byte{0xff, 0xff, 0xff}) },
		"other orderer": func() error {
			c.SetOrdererKeys("x", []ed25519.PublicKey{ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)})
			return c.VerifyBlock("x", 5, block)
		},
		"tampered data": func() error {
			bad := append([]byte(nil), block...)
			i := bytes.Index(bad, []byte("tx-1"))
			bad[i+3] = '2'
			return c.VerifyBlock("mychannel", 5, bad)
		},
	}
	for name, run := range cases {
		if err := run(); !errors.Is(err, ErrInvalidBlock) {
			t.Errorf("%s: got %v, want an invalid block", name, err)
		}
	}
}

func TestProtowireRejectsTruncatedInput(t *testing.T) {
	id := SerializedIdentity{MSPID: "Org1MSP", IDBytes: bytes.Repeat([]byte{7}, 32)}.Marshal()
	for i := 1; i < len(id); i++ {
		if sid, err := ParseSerializedIdentity(id[:i]); err == nil && len(sid.IDBytes) == 32 {
			t.Fatalf("truncated identity (%d of %d bytes) parsed whole", i, len(id))
		}
	}
	back, err := ParseSerializedIdentity(id)
	if err != nil || back.MSPID != "Org1MSP" || len(back.IDBytes) != 32 {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

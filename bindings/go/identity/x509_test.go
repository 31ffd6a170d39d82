package identity

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
	"time"
)

func newX509Peer(t *testing.T, ca *CA, cn string) *X509 {
	t.Helper()
	cert, key, err := ca.Issue(cn, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewX509(ca.MSPID, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.TrustCA(ca.MSPID, ca.CertPEM); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestX509SignaturesAreLowSAndVerify(t *testing.T) {
	ca, err := NewCA("Org1MSP")
	if err != nil {
		t.Fatal(err)
	}
	a := newX509Peer(t, ca, "peer0")
	id, _ := a.SelfIdentity()
	halfN := new(big.Int).Rsh(a.key.Curve.Params().N, 1)
	for i := 0; i < 50; i++ {
		msg := []byte{byte(i)}
		sig, err := a.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		var rs ecdsaSignature
		if _, err := asn1.Unmarshal(sig, &rs); err != nil || rs.S.Cmp(halfN) > 0 {
			t.Fatalf("signature %x is not low-S DER", sig)
		}
		if err := a.Verify(id, sig, msg); err != nil {
			t.Fatalf("own signature refused: %v", err)
		}
		// The same signature with S flipped to n-S is valid ECDSA but must be refused.
		high, _ := asn1.Marshal(ecdsaSignature{R: rs.R, S: new(big.Int).Sub(a.key.Curve.Params().N, rs.S)})
		digest := sha256.Sum256(msg)
		if !ecdsa.Verify(&a.key.PublicKey, digest[:], rs.R, new(big.Int).Sub(a.key.Curve.Params().N, rs.S)) {
			t.Fatal("test setup: n-S should verify as plain ECDSA")
		}
		if a.Verify(id, high, msg) == nil {
			t.Fatal("high-S signature accepted")
		}
		if a.Verify(id, sig, append(msg, 0)) == nil {
			t.Fatal("signature over another message accepted")
		}
	}
}

func TestX509IdentityRules(t *testing.T) {
	ca1, _ := NewCA("Org1MSP")
	ca2, _ := NewCA("Org2MSP")
	a := newX509Peer(t, ca1, "peer0")
	b := newX509Peer(t, ca2, "peer0")
	idA, _ := a.SelfIdentity()
	idB, _ := b.SelfIdentity()
	if err := a.ValidateIdentity(idA); err != nil {
		t.Fatalf("own identity: %v", err)
	}
	if err := a.ValidateIdentity(idB); err == nil || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("identity of an untrusted org: %v", err)
	}
	// Claiming Org1MSP with a certificate from Org2's CA does not work.
	forged := SerializedIdentity{MSPID: "Org1MSP", IDBytes: b.identityPEM(t)}.Marshal()
	if a.ValidateIdentity(forged) == nil {
		t.Fatal("a certificate of another CA accepted for Org1MSP")
	}
	a.TrustCA("Org2MSP", ca2.CertPEM)
	if err := a.ValidateIdentity(idB); err != nil {
		t.Fatalf("trusted org: %v", err)
	}
	expired, key, _ := ca1.Issue("old", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	old, err := NewX509("Org1MSP", expired, key)
	if err != nil {
		t.Fatal(err)
	}
	idOld, _ := old.SelfIdentity()
	if a.ValidateIdentity(idOld) == nil {
		t.Fatal("expired certificate accepted")
	}
	at, err := a.Expiration(idOld)
	if err != nil || at.After(time.Now()) {
		t.Fatalf("Expiration = %v, %v", at, err)
	}
	if org, _ := a.OrgOf(idB); org != "Org2MSP" {
		t.Fatalf("OrgOf = %q", org)
	}
	pki, _ := a.PKIidOf(idA)
	if want := DefaultPKIID("Org1MSP", b.identityPEMOf(t, idA)); string(pki) != string(want) {
		t.Fatal("PKI-ID is not SHA-256(mspid ‖ PEM)")
	}
	edID := SerializedIdentity{MSPID: "Org1MSP", IDBytes: make([]byte, 32)}.Marshal()
	if a.ValidateIdentity(edID) == nil {
		t.Fatal("an Ed25519 identity passed X.509 validation")
	}
	if _, err := NewX509("Org1MSP", a.identityPEM(t), key); err == nil {
		t.Fatal("a key not matching the certificate accepted")
	}
}

func TestMixedDispatchesByIdentityKind(t *testing.T) {
	ca, _ := NewCA("Org1MSP")
	x := newX509Peer(t, ca, "peer0")
	e, _ := NewEd25519("Org2MSP", make([]byte, 32), nil)
	idX, _ := x.SelfIdentity()
	idE, _ := e.SelfIdentity()
	sigE, _ := e.Sign([]byte("m"))
	sigX, _ := x.Sign([]byte("m"))

	only := &Mixed{Self: x, X509: x}
	if err := only.Verify(idE, sigE, []byte("m")); err != errEd25519NotTrusted {
		t.Fatalf("Ed25519 without an Ed25519 verifier: %v", err)
	}
	both := &Mixed{Self: x, X509: x, Ed25519: NewEd25519Verifier([]string{"Org2MSP"})}
	if err := both.Verify(idE, sigE, []byte("m")); err != nil {
		t.Fatal(err)
	}
	if err := both.ValidateIdentity(idE); err != nil {
		t.Fatal(err)
	}
	if err := both.Verify(idX, sigX, []byte("m")); err != nil {
		t.Fatal(err)
	}
	edSide := &Mixed{Self: e, Ed25519: e}
	if err := edSide.ValidateIdentity(idX); err != errX509NotTrusted {
		t.Fatalf("X.509 without an X.509 verifier: %v", err)
	}
}

func (c *X509) identityPEM(t *testing.T) []byte {
	t.Helper()
	id, _ := c.SelfIdentity()
	return c.identityPEMOf(t, id)
}

func (c *X509) identityPEMOf(t *testing.T, id []byte) []byte {
	t.Helper()
	sid, err := ParseSerializedIdentity(id)
	if err != nil {
		t.Fatal(err)
	}
	return sid.IDBytes
}

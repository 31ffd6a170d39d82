package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// X509 is a MessageCryptoService over X.509 certificates with ECDSA P-256 keys, the
// identities Fabric's MSP issues: msp.SerializedIdentity{mspid, id_bytes = the PEM
// certificate}, PKI-ID = SHA-256(mspid ‖ id_bytes), org = mspid, signatures ECDSA over the
// SHA-256 of the message, ASN.1 DER encoded with a low S (s ≤ n/2), as Fabric requires.
//
// An identity is valid when its certificate chains to a CA trusted for its MSP ID
// (TrustCA) and is within its validity period; Expiration is the certificate's NotAfter.
// VerifyByChannel additionally requires the signer's org in SetChannelOrgs' list.
// VerifyBlock applies Fabric's structural block checks (no orderer signature check).
type X509 struct {
	mspid    string
	key      *ecdsa.PrivateKey // nil for a verifier without an identity of its own
	identity []byte

	mu       sync.RWMutex
	roots    map[string]*x509.CertPool
	channels map[string]map[string]bool
	certs    map[string]*x509.Certificate // parse cache, keyed by id_bytes
	now      func() time.Time
}

const maxCachedCerts = 4096

// NewX509 is the identity of a peer of mspid holding certPEM and its private key (PKCS#8
// or SEC 1 "EC PRIVATE KEY" PEM).
func NewX509(mspid string, certPEM, keyPEM []byte) (*X509, error) {
	if mspid == "" {
		return nil, errors.New("empty MSP ID")
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := parseECKey(keyPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("the private key does not match the certificate")
	}
	c := NewX509Verifier()
	c.mspid = mspid
	c.key = key
	c.identity = SerializedIdentity{MSPID: mspid, IDBytes: certPEM}.Marshal()
	return c, nil
}

// NewX509Verifier checks X.509 identities but has none of its own (for Mixed).
func NewX509Verifier() *X509 {
	return &X509{
		roots:    map[string]*x509.CertPool{},
		channels: map[string]map[string]bool{},
		certs:    map[string]*x509.Certificate{},
		now:      time.Now,
	}
}

// TrustCA makes certificates issued by the PEM CA certificate(s) valid identities of mspid.
func (c *X509) TrustCA(mspid string, caPEM []byte) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("no CA certificate in the PEM for %s", mspid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.roots[mspid]; ok {
		// Keep earlier CAs of the org: add the new ones to the existing pool.
		old.AppendCertsFromPEM(caPEM)
		return nil
	}
	c.roots[mspid] = pool
	return nil
}

// SetChannelOrgs sets the orgs whose members may sign for channel.
func (c *X509) SetChannelOrgs(channel string, orgs []string) {
	m := map[string]bool{}
	for _, o := range orgs {
		m[o] = true
	}
	c.mu.Lock()
	c.channels[channel] = m
	c.mu.Unlock()
}

// SelfIdentity is this peer's serialized identity.
func (c *X509) SelfIdentity() ([]byte, error) {
	if c.key == nil {
		return nil, errors.New("X.509 verifier has no identity")
	}
	return append([]byte(nil), c.identity...), nil
}

// Sign signs SHA-256(msg) with the peer's key; the signature is DER with a low S.
func (c *X509) Sign(msg []byte) ([]byte, error) {
	if c.key == nil {
		return nil, errors.New("X.509 verifier has no signing key")
	}
	digest := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, c.key, digest[:])
	if err != nil {
		return nil, err
	}
	n := c.key.Curve.Params().N
	if s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		s = new(big.Int).Sub(n, s)
	}
	return asn1.Marshal(ecdsaSignature{R: r, S: s})
}

type ecdsaSignature struct {
	R, S *big.Int
}

// Verify checks a low-S ECDSA signature over msg by identity's certificate key.
func (c *X509) Verify(identity, signature, msg []byte) error {
	_, cert, err := c.decode(identity)
	if err != nil {
		return err
	}
	pub := cert.PublicKey.(*ecdsa.PublicKey)
	var sig ecdsaSignature
	rest, err := asn1.Unmarshal(signature, &sig)
	if err != nil || len(rest) != 0 || sig.R == nil || sig.S == nil {
		return errors.New("signature is not a DER ECDSA signature")
	}
	n := pub.Curve.Params().N
	if sig.R.Sign() <= 0 || sig.S.Sign() <= 0 || sig.S.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		return errors.New("ECDSA signature is out of range or has a high S")
	}
	digest := sha256.Sum256(msg)
	if !ecdsa.Verify(pub, digest[:], sig.R, sig.S) {
		return errors.New("bad signature")
	}
	return nil
}

// VerifyByChannel is Verify plus: the signer's org is a member of channel.
func (c *X509) VerifyByChannel(channel string, identity, signature, msg []byte) error {
	sid, _, err := c.decode(identity)
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

// VerifyBlock applies Fabric's structural block checks.
func (c *X509) VerifyBlock(channel string, seq uint64, block []byte) error {
	return verifyBlock(channel, seq, block, nil)
}

// ValidateIdentity accepts a certificate chaining to a CA trusted for its MSP ID, within
// its validity period.
func (c *X509) ValidateIdentity(identity []byte) error {
	sid, cert, err := c.decode(identity)
	if err != nil {
		return err
	}
	c.mu.RLock()
	pool := c.roots[sid.MSPID]
	c.mu.RUnlock()
	if pool == nil {
		return fmt.Errorf("org %s is not trusted", sid.MSPID)
	}
	_, err = cert.Verify(x509.VerifyOptions{
		Roots:       pool,
		CurrentTime: c.now(),
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("certificate of %s: %w", sid.MSPID, err)
	}
	return nil
}

// OrgOf is identity's MSP ID.
func (c *X509) OrgOf(identity []byte) (string, error) {
	sid, err := ParseSerializedIdentity(identity)
	if err != nil {
		return "", err
	}
	return sid.MSPID, nil
}

// Expiration is the certificate's NotAfter.
func (c *X509) Expiration(identity []byte) (time.Time, error) {
	_, cert, err := c.decode(identity)
	if err != nil {
		return time.Time{}, err
	}
	return cert.NotAfter, nil
}

// PKIidOf is SHA-256(mspid ‖ id_bytes), Fabric's PKI-ID of a serialized identity.
func (c *X509) PKIidOf(identity []byte) ([]byte, error) {
	sid, err := ParseSerializedIdentity(identity)
	if err != nil {
		return nil, err
	}
	return DefaultPKIID(sid.MSPID, sid.IDBytes), nil
}

// decode parses an identity holding a PEM certificate with an ECDSA P-256 key.
func (c *X509) decode(identity []byte) (SerializedIdentity, *x509.Certificate, error) {
	sid, err := ParseSerializedIdentity(identity)
	if err != nil {
		return sid, nil, err
	}
	c.mu.RLock()
	cert := c.certs[string(sid.IDBytes)]
	c.mu.RUnlock()
	if cert != nil {
		return sid, cert, nil
	}
	cert, err = parseCertPEM(sid.IDBytes)
	if err != nil {
		return sid, nil, err
	}
	c.mu.Lock()
	if len(c.certs) >= maxCachedCerts {
		c.certs = map[string]*x509.Certificate{}
	}
	c.certs[string(sid.IDBytes)] = cert
	c.mu.Unlock()
	return sid, cert, nil
}

// IsX509Identity reports whether id_bytes holds a PEM certificate (as opposed to a raw
// Ed25519 key).
func IsX509Identity(idBytes []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(idBytes), []byte("-----BEGIN"))
}

func parseCertPEM(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("id_bytes is not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("certificate key is not ECDSA P-256")
	}
	return cert, nil
}

func parseECKey(keyPEM []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("no PEM private key")
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("private key is not ECDSA P-256")
	}
	return ec, nil
}

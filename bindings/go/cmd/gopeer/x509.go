package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	fabgossip "github.com/fabgossip/fabgossip/bindings/go"
	"github.com/fabgossip/fabgossip/bindings/go/identity"
)

// x509Provider is the X.509/ECDSA identity from --msp-dir, trusting the CAs of --trust-ca
// and, with --trust-ed25519, Ed25519 identities of those orgs too.
func x509Provider(o options, mspID string) (fabgossip.MessageCryptoService, error) {
	if o.mspDir == "" {
		return nil, errors.New("--crypto x509 needs --msp-dir")
	}
	certPEM, err := os.ReadFile(filepath.Join(o.mspDir, "cert.pem"))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(o.mspDir, "key.pem"))
	if err != nil {
		return nil, err
	}
	self, err := identity.NewX509(mspID, certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if err := trustCAs(self, o.trustCA); err != nil {
		return nil, err
	}
	m := &identity.Mixed{Self: self, X509: self}
	if o.trustEd25519 != "" {
		m.Ed25519 = identity.NewEd25519Verifier(strings.Split(o.trustEd25519, ","))
	}
	return m, nil
}

// withX509 lets an Ed25519 peer accept the X.509 identities of --trust-ca as well.
func withX509(self *identity.Ed25519, trustCA string) (fabgossip.MessageCryptoService, error) {
	v := identity.NewX509Verifier()
	if err := trustCAs(v, trustCA); err != nil {
		return nil, err
	}
	return &identity.Mixed{Self: self, X509: v, Ed25519: self}, nil
}

// trustCAs reads --trust-ca: comma-separated MSPID=ca.pem pairs.
func trustCAs(c *identity.X509, spec string) error {
	for _, pair := range strings.Split(spec, ",") {
		if pair == "" {
			continue
		}
		mspID, path, ok := strings.Cut(pair, "=")
		if !ok {
			return fmt.Errorf("--trust-ca %q: want MSPID=ca.pem", pair)
		}
		pemBytes, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := c.TrustCA(mspID, pemBytes); err != nil {
			return err
		}
	}
	return nil
}

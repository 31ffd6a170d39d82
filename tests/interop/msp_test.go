package interop

// The built-in MSP against Fabric's own msp package: the Go side makes a corpus of MSP
// configurations, identities, principals and signatures (with Go's x509 and Fabric's
// cryptogen), asks Fabric's msp package for its decisions, runs the crate's msp_decide example
// on the same corpus and requires the same answers. It also loads cryptogen MSP folders on both
// sides: the library's serialized identity must equal Fabric's, and Fabric must accept the
// library's signatures.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang/protobuf/proto"
	mspproto "github.com/hyperledger/fabric-protos-go/msp"
	"github.com/hyperledger/fabric/bccsp/factory"
	"github.com/hyperledger/fabric/bccsp/sw"
	"github.com/hyperledger/fabric/common/flogging"
	"github.com/hyperledger/fabric/msp"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func pemOf(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

var serialCounter int64 = 5000

func nextSerial() *big.Int {
	serialCounter++
	return big.NewInt(serialCounter)
}

func newCA(t *testing.T, cn string, parent *testCA, nb, na time.Time) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{cn}},
		NotBefore:             nb,
		NotAfter:              na,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pemOf(der)}
}

type leafOpts struct {
	ous    []string
	serial int64
	nb, na time.Time
	p384   bool
	eku    []x509.ExtKeyUsage
}

func newLeaf(t *testing.T, ca *testCA, cn string, o leafOpts) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	curve := elliptic.P256()
	if o.p384 {
		curve = elliptic.P384()
	}
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial := nextSerial()
	if o.serial != 0 {
		serial = big.NewInt(o.serial)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, OrganizationalUnit: o.ous},
		NotBefore:    o.nb,
		NotAfter:     o.na,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  o.eku,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(der), key
}

func newCRL(t *testing.T, ca *testCA, serials ...int64) []byte {
	t.Helper()
	var revoked []x509.RevocationListEntry
	for _, s := range serials {
		revoked = append(revoked, x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(1),
		ThisUpdate:                time.Now().Add(-time.Hour),
		NextUpdate:                time.Now().Add(24 * time.Hour),
		RevokedCertificateEntries: revoked,
	}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

func nodeOUs(bind map[string][]byte) *mspproto.FabricNodeOUs {
	ou := func(name string) *mspproto.FabricOUIdentifier {
		return &mspproto.FabricOUIdentifier{OrganizationalUnitIdentifier: name, Certificate: bind[name]}
	}
	return &mspproto.FabricNodeOUs{
		Enable:              true,
		ClientOuIdentifier:  ou("client"),
		PeerOuIdentifier:    ou("peer"),
		AdminOuIdentifier:   ou("admin"),
		OrdererOuIdentifier: ou("orderer"),
	}
}

type ecdsaSig struct{ R, S *big.Int }

// signBoth signs SHA-256(msg) and returns the low-S and the high-S form of one signature.
func signBoth(t *testing.T, key *ecdsa.PrivateKey, msg []byte) (low, high []byte) {
	t.Helper()
	digest := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	n := key.Curve.Params().N
	half := new(big.Int).Rsh(n, 1)
	sLow, sHigh := new(big.Int).Set(s), new(big.Int).Sub(n, s)
	if s.Cmp(half) > 0 {
		sLow, sHigh = sHigh, sLow
	}
	low, _ = asn1.Marshal(ecdsaSig{r, sLow})
	high, _ = asn1.Marshal(ecdsaSig{r, sHigh})
	return low, high
}

type corpusSig struct {
	Msg string `json:"msg"`
	Sig string `json:"sig"`
}

type corpusCase struct {
	Name       string      `json:"name"`
	Serialized string      `json:"serialized"`
	Principals []string    `json:"principals"`
	Sigs       []corpusSig `json:"sigs"`
}

type corpusFolder struct {
	Dir   string `json:"dir"`
	MspID string `json:"mspid"`
	Msg   string `json:"msg"`
}

type corpus struct {
	Msps       []string       `json:"msps"`
	Identities []corpusCase   `json:"identities"`
	Folders    []corpusFolder `json:"folders"`
}

type answerCase struct {
	Name       string  `json:"name"`
	Valid      bool    `json:"valid"`
	Error      string  `json:"error"`
	Principals []bool  `json:"principals"`
	Sigs       []bool  `json:"sigs"`
	ExpiresAt  *int64  `json:"expires_at"`
	PkiID      *string `json:"pki_id"`
}

type answerFolder struct {
	Serialized string `json:"serialized"`
	PkiID      string `json:"pki_id"`
	Sig        string `json:"sig"`
	Error      string `json:"error"`
}

type answers struct {
	Setup      []*string      `json:"setup"`
	Identities []answerCase   `json:"identities"`
	Folders    []answerFolder `json:"folders"`
}

func serialize(t *testing.T, mspid string, pemBytes []byte) []byte {
	t.Helper()
	raw, err := proto.Marshal(&mspproto.SerializedIdentity{Mspid: mspid, IdBytes: pemBytes})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func principal(t *testing.T, class mspproto.MSPPrincipal_Classification, m proto.Message) []byte {
	t.Helper()
	inner, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := proto.Marshal(&mspproto.MSPPrincipal{PrincipalClassification: class, Principal: inner})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func rolePrincipal(t *testing.T, mspid string, role mspproto.MSPRole_MSPRoleType) []byte {
	return principal(t, mspproto.MSPPrincipal_ROLE, &mspproto.MSPRole{MspIdentifier: mspid, Role: role})
}

// buildCryptogen builds Fabric's cryptogen from the pinned Fabric module.
func buildCryptogen(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "cryptogen")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/hyperledger/fabric/cmd/cryptogen").CombinedOutput()
	if err != nil {
		t.Fatalf("go build cryptogen: %v\n%s", err, out)
	}
	return bin
}

const cryptoConfig = `PeerOrgs:
  - Name: Org1
    Domain: org1.example.com
    EnableNodeOUs: true
    Template:
      Count: 1
    Users:
      Count: 1
  - Name: Org5
    Domain: org5.example.com
    EnableNodeOUs: false
    Template:
      Count: 1
`

func newFabricMSP(t *testing.T, conf []byte) (msp.MSP, error) {
	t.Helper()
	m, err := msp.New(&msp.BCCSPNewOpts{NewBaseOpts: msp.NewBaseOpts{Version: msp.MSPv1_4_3}}, factory.GetDefault())
	if err != nil {
		t.Fatal(err)
	}
	return m, m.Setup(&mspproto.MSPConfig{Type: int32(msp.FABRIC), Config: conf})
}

// fabricLocalMSP loads an MSP folder as a Fabric peer does, with its own keystore.
func fabricLocalMSP(t *testing.T, dir, mspid string) msp.MSP {
	t.Helper()
	conf, err := msp.GetLocalMspConfig(dir, nil, mspid)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := sw.NewFileBasedKeyStore(nil, filepath.Join(dir, "keystore"), true)
	if err != nil {
		t.Fatal(err)
	}
	csp, err := sw.NewDefaultSecurityLevelWithKeystore(ks)
	if err != nil {
		t.Fatal(err)
	}
	m, err := msp.New(&msp.BCCSPNewOpts{NewBaseOpts: msp.NewBaseOpts{Version: msp.MSPv1_4_3}}, csp)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Setup(conf); err != nil {
		t.Fatalf("Fabric local MSP %s: %v", dir, err)
	}
	return m
}

func readPEM(t *testing.T, dir string) []byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("read %s: %v", dir, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestMSPDecisionsEqualFabric(t *testing.T) {
	// Fabric logs every refusal at warning level; the refusals are the point here.
	flogging.ActivateSpec("fatal")
	if err := factory.InitFactories(nil); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	past, future := time.Now().AddDate(-5, 0, 0), time.Now().AddDate(30, 0, 0)
	normal := func(ous ...string) leafOpts {
		return leafOpts{ous: ous, nb: time.Now().AddDate(-1, 0, 0), na: time.Now().AddDate(5, 0, 0)}
	}

	// Org1: one root, NodeOUs, a CRL of its own and one of a stranger.
	root1 := newCA(t, "ca.org1", nil, past, future)
	evil := newCA(t, "ca.org1", nil, past, future) // same name, other key: the wrong CA
	// Org2: a root and two intermediates; the peer OU is bound to the first intermediate.
	root2 := newCA(t, "ca.org2", nil, past, future)
	int2 := newCA(t, "ica.org2", root2, past, future)
	int2b := newCA(t, "ica2.org2", root2, past, future)
	// Org3: no NodeOUs, an explicit admin.
	root3 := newCA(t, "ca.org3", nil, past, future)
	admin3, admin3Key := newLeaf(t, root3, "admin.org3", normal("admin"))

	conf1 := &mspproto.FabricMSPConfig{
		Name:           "Org1MSP",
		RootCerts:      [][]byte{root1.pem},
		RevocationList: [][]byte{newCRL(t, root1, 1003), newCRL(t, evil, 1004)},
		FabricNodeOus:  nodeOUs(nil),
	}
	conf2 := &mspproto.FabricMSPConfig{
		Name:              "Org2MSP",
		RootCerts:         [][]byte{root2.pem},
		IntermediateCerts: [][]byte{int2.pem, int2b.pem},
		FabricNodeOus:     nodeOUs(map[string][]byte{"peer": int2.pem}),
	}
	conf3 := &mspproto.FabricMSPConfig{
		Name:      "Org3MSP",
		RootCerts: [][]byte{root3.pem},
		Admins:    [][]byte{admin3},
	}
	// Refused at setup: a leaf among the roots, no root at all.
	leafAsRoot, _ := newLeaf(t, root1, "notaca", normal("peer"))
	confBadRoot := &mspproto.FabricMSPConfig{Name: "BadMSP", RootCerts: [][]byte{leafAsRoot}, FabricNodeOus: nodeOUs(nil)}
	confNoRoot := &mspproto.FabricMSPConfig{Name: "EmptyMSP", FabricNodeOus: nodeOUs(nil)}

	// cryptogen organizations: Org1 of cryptogen has NodeOUs, Org5 has admincerts.
	cryptogen := buildCryptogen(t, work)
	cfgPath := filepath.Join(work, "crypto-config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cryptoConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	cryptoDir := filepath.Join(work, "crypto")
	if out, err := exec.Command(cryptogen, "generate", "--config="+cfgPath, "--output="+cryptoDir).CombinedOutput(); err != nil {
		t.Fatalf("cryptogen: %v\n%s", err, out)
	}
	cgOrg := func(org string) string { return filepath.Join(cryptoDir, "peerOrganizations", org) }
	cgConf := func(org, mspid string) *mspproto.FabricMSPConfig {
		c, err := msp.GetVerifyingMspConfig(filepath.Join(cgOrg(org), "msp"), mspid, "bccsp")
		if err != nil {
			t.Fatal(err)
		}
		fc := &mspproto.FabricMSPConfig{}
		if err := proto.Unmarshal(c.Config, fc); err != nil {
			t.Fatal(err)
		}
		return fc
	}
	confCG1 := cgConf("org1.example.com", "CG1MSP")
	confCG5 := cgConf("org5.example.com", "CG5MSP")

	configs := []*mspproto.FabricMSPConfig{conf1, conf2, conf3, confBadRoot, confNoRoot, confCG1, confCG5}
	var c corpus
	var fabricSetup []error
	mgr := msp.NewMSPManager()
	var good []msp.MSP
	for _, conf := range configs {
		raw, err := proto.Marshal(conf)
		if err != nil {
			t.Fatal(err)
		}
		c.Msps = append(c.Msps, hex.EncodeToString(raw))
		m, err := newFabricMSP(t, raw)
		fabricSetup = append(fabricSetup, err)
		if err == nil {
			good = append(good, m)
		}
	}
	if err := mgr.Setup(good); err != nil {
		t.Fatal(err)
	}

	type idCase struct {
		name  string
		mspid string
		pem   []byte
		key   *ecdsa.PrivateKey
		raw   []byte // serialized bytes as given, when not mspid+pem
	}
	var cases []idCase
	add := func(name, mspid string, pemBytes []byte, key *ecdsa.PrivateKey) {
		cases = append(cases, idCase{name: name, mspid: mspid, pem: pemBytes, key: key})
	}
	leafCase := func(name, mspid string, ca *testCA, o leafOpts) {
		p, k := newLeaf(t, ca, name, o)
		add(name, mspid, p, k)
	}
	leafCase("org1-peer", "Org1MSP", root1, normal("peer"))
	leafCase("org1-client", "Org1MSP", root1, normal("client"))
	leafCase("org1-admin", "Org1MSP", root1, normal("admin"))
	leafCase("org1-orderer", "Org1MSP", root1, normal("orderer"))
	leafCase("org1-expired", "Org1MSP", root1, leafOpts{ous: []string{"peer"}, nb: past.AddDate(0, 1, 0), na: past.AddDate(1, 0, 0)})
	leafCase("org1-not-yet-valid", "Org1MSP", root1, leafOpts{ous: []string{"peer"}, nb: time.Now().AddDate(1, 0, 0), na: time.Now().AddDate(3, 0, 0)})
	leafCase("org1-beyond-ca", "Org1MSP", root1, leafOpts{ous: []string{"peer"}, nb: future.AddDate(1, 0, 0), na: future.AddDate(2, 0, 0)})
	o := normal("peer")
	o.serial = 1003
	leafCase("org1-revoked", "Org1MSP", root1, o)
	o.serial = 1004
	leafCase("org1-in-strangers-crl", "Org1MSP", root1, o)
	leafCase("org1-no-role", "Org1MSP", root1, normal("sales"))
	leafCase("org1-two-roles", "Org1MSP", root1, normal("peer", "client"))
	leafCase("org1-no-ou", "Org1MSP", root1, normal())
	leafCase("org1-wrong-ca", "Org1MSP", evil, normal("peer"))
	o = normal("peer")
	o.p384 = true
	leafCase("org1-p384", "Org1MSP", root1, o)
	o = normal("peer")
	o.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	leafCase("org1-client-auth-only", "Org1MSP", root1, o)
	o.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	leafCase("org1-server-and-client-auth", "Org1MSP", root1, o)
	add("org1-ca-as-identity", "Org1MSP", root1.pem, nil)
	leafCase("org2-peer-by-intermediate", "Org2MSP", int2, normal("peer"))
	leafCase("org2-peer-by-other-intermediate", "Org2MSP", int2b, normal("peer"))
	leafCase("org2-client-by-other-intermediate", "Org2MSP", int2b, normal("client"))
	leafCase("org2-peer-by-root", "Org2MSP", root2, normal("peer"))
	add("org2-intermediate-as-identity", "Org2MSP", int2.pem, nil)
	add("org3-admin", "Org3MSP", admin3, admin3Key)
	leafCase("org3-member", "Org3MSP", root3, normal())
	leafCase("unknown-msp", "Org9MSP", root1, normal("peer"))
	cases = append(cases, idCase{name: "garbage", mspid: "Org1MSP", raw: []byte{0x0a, 0xff, 0x01}})
	add("not-pem", "Org1MSP", []byte("not a certificate"), nil)
	for _, who := range []string{"peers/peer0.org1.example.com", "users/Admin@org1.example.com", "users/User1@org1.example.com"} {
		add("cryptogen-org1-"+filepath.Base(who), "CG1MSP", readPEM(t, filepath.Join(cgOrg("org1.example.com"), who, "msp", "signcerts")), nil)
	}
	for _, who := range []string{"peers/peer0.org5.example.com", "users/Admin@org5.example.com"} {
		add("cryptogen-org5-"+filepath.Base(who), "CG5MSP", readPEM(t, filepath.Join(cgOrg("org5.example.com"), who, "msp", "signcerts")), nil)
	}
	add("cryptogen-org1-peer-as-org5", "CG5MSP", readPEM(t, filepath.Join(cgOrg("org1.example.com"), "peers/peer0.org1.example.com", "msp", "signcerts")), nil)

	roles := []mspproto.MSPRole_MSPRoleType{mspproto.MSPRole_MEMBER, mspproto.MSPRole_ADMIN, mspproto.MSPRole_CLIENT, mspproto.MSPRole_PEER, mspproto.MSPRole_ORDERER}
	type fabricAnswer struct {
		valid      bool
		principals []bool
		sigs       []bool
		expiresAt  *int64
	}
	var want []fabricAnswer
	peerOf := map[string][]byte{}
	for _, ic := range cases {
		serialized := ic.raw
		if serialized == nil {
			serialized = serialize(t, ic.mspid, ic.pem)
		}
		peerOf[ic.name] = serialized
		cc := corpusCase{Name: ic.name, Serialized: hex.EncodeToString(serialized), Principals: []string{}, Sigs: []corpusSig{}}
		var principals [][]byte
		for _, r := range roles {
			principals = append(principals, rolePrincipal(t, ic.mspid, r))
		}
		principals = append(principals,
			rolePrincipal(t, "Org3MSP", mspproto.MSPRole_MEMBER),
			principal(t, mspproto.MSPPrincipal_IDENTITY, &mspproto.SerializedIdentity{Mspid: ic.mspid, IdBytes: ic.pem}),
			principal(t, mspproto.MSPPrincipal_IDENTITY, &mspproto.SerializedIdentity{Mspid: "Org3MSP", IdBytes: admin3}),
			principal(t, mspproto.MSPPrincipal_ANONYMITY, &mspproto.MSPIdentityAnonymity{AnonymityType: mspproto.MSPIdentityAnonymity_NOMINAL}),
			principal(t, mspproto.MSPPrincipal_COMBINED, &mspproto.CombinedPrincipal{Principals: []*mspproto.MSPPrincipal{
				{PrincipalClassification: mspproto.MSPPrincipal_ROLE, Principal: mustMarshal(t, &mspproto.MSPRole{MspIdentifier: ic.mspid, Role: mspproto.MSPRole_MEMBER})},
				{PrincipalClassification: mspproto.MSPPrincipal_ROLE, Principal: mustMarshal(t, &mspproto.MSPRole{MspIdentifier: ic.mspid, Role: mspproto.MSPRole_PEER})},
			}}),
		)
		fid, derr := mgr.DeserializeIdentity(serialized)
		if derr == nil {
			// OU principals with the certifiers identifier Fabric computes: equal only when both
			// sides hash the same (sanitized) chain.
			for _, ou := range fid.GetOrganizationalUnits() {
				principals = append(principals, principal(t, mspproto.MSPPrincipal_ORGANIZATION_UNIT, &mspproto.OrganizationUnit{
					MspIdentifier: ic.mspid, OrganizationalUnitIdentifier: ou.OrganizationalUnitIdentifier, CertifiersIdentifier: ou.CertifiersIdentifier,
				}))
			}
		}
		principals = append(principals, principal(t, mspproto.MSPPrincipal_ORGANIZATION_UNIT, &mspproto.OrganizationUnit{
			MspIdentifier: ic.mspid, OrganizationalUnitIdentifier: "peer", CertifiersIdentifier: make([]byte, 32),
		}))
		var fa fabricAnswer
		fa.valid = derr == nil && fid.Validate() == nil
		for _, p := range principals {
			cc.Principals = append(cc.Principals, hex.EncodeToString(p))
			ok := false
			if derr == nil {
				mp := &mspproto.MSPPrincipal{}
				if err := proto.Unmarshal(p, mp); err != nil {
					t.Fatal(err)
				}
				ok = fid.SatisfiesPrincipal(mp) == nil
			}
			fa.principals = append(fa.principals, ok)
		}
		if ic.key != nil {
			msg := []byte("block " + ic.name)
			low, high := signBoth(t, ic.key, msg)
			wrong, _ := signBoth(t, ic.key, []byte("another message"))
			for _, s := range [][]byte{low, high, wrong} {
				cc.Sigs = append(cc.Sigs, corpusSig{Msg: hex.EncodeToString(msg), Sig: hex.EncodeToString(s)})
				fa.sigs = append(fa.sigs, derr == nil && fid.Verify(msg, s) == nil)
			}
		}
		if derr == nil {
			e := fid.ExpiresAt().Unix()
			fa.expiresAt = &e
		}
		c.Identities = append(c.Identities, cc)
		want = append(want, fa)
	}

	// Local MSP folders: cryptogen's peer with NodeOUs, and an org without them.
	folders := []struct{ dir, mspid, org string }{
		{filepath.Join(cgOrg("org1.example.com"), "peers/peer0.org1.example.com/msp"), "CG1MSP", "org1.example.com"},
		{filepath.Join(cgOrg("org1.example.com"), "users/Admin@org1.example.com/msp"), "CG1MSP", "org1.example.com"},
		{filepath.Join(cgOrg("org5.example.com"), "peers/peer0.org5.example.com/msp"), "CG5MSP", "org5.example.com"},
	}
	for i, f := range folders {
		c.Folders = append(c.Folders, corpusFolder{Dir: f.dir, MspID: f.mspid, Msg: hex.EncodeToString([]byte{byte(i), 1, 2, 3})})
	}

	got := runMSPDecide(t, work, &c)

	// The corpus exercises both answers; a check that always agreed on "no" would prove nothing.
	byName := map[string]fabricAnswer{}
	for i, ic := range cases {
		byName[ic.name] = want[i]
	}
	for name, valid := range map[string]bool{
		"org1-peer": true, "org1-expired": true, "org1-not-yet-valid": true, "org1-revoked": false,
		"org1-in-strangers-crl": true, "org1-no-role": false, "org1-wrong-ca": false, "org1-ca-as-identity": false,
		"org2-peer-by-intermediate": true, "org2-peer-by-root": false, "org2-peer-by-other-intermediate": false,
		"cryptogen-org1-peer0.org1.example.com": true, "cryptogen-org5-peer0.org5.example.com": true,
	} {
		if byName[name].valid != valid {
			t.Errorf("Fabric says %s valid=%v, the corpus expects %v", name, byName[name].valid, valid)
		}
	}

	if len(got.Setup) != len(fabricSetup) {
		t.Fatalf("setup answers: got %d, want %d", len(got.Setup), len(fabricSetup))
	}
	for i, ferr := range fabricSetup {
		if (ferr == nil) != (got.Setup[i] == nil) {
			t.Errorf("MSP %s setup: Fabric error %v, library error %v", configs[i].Name, ferr, deref(got.Setup[i]))
		}
	}
	if len(got.Identities) != len(want) {
		t.Fatalf("identity answers: got %d, want %d", len(got.Identities), len(want))
	}
	for i, w := range want {
		g := got.Identities[i]
		name := cases[i].name
		if g.Valid != w.valid {
			t.Errorf("%s: valid: library %v (%s), Fabric %v", name, g.Valid, g.Error, w.valid)
		}
		if !equalBools(g.Principals, w.principals) {
			t.Errorf("%s: principals: library %v, Fabric %v", name, g.Principals, w.principals)
		}
		if !equalBools(g.Sigs, w.sigs) {
			t.Errorf("%s: signatures (low-S, high-S, other message): library %v, Fabric %v", name, g.Sigs, w.sigs)
		}
		if (g.ExpiresAt == nil) != (w.expiresAt == nil) || (g.ExpiresAt != nil && *g.ExpiresAt != *w.expiresAt) {
			t.Errorf("%s: expires at: library %v, Fabric %v", name, deref64(g.ExpiresAt), deref64(w.expiresAt))
		}
		if g.PkiID != nil {
			sum := sha256.Sum256(append([]byte(cases[i].mspid), cases[i].pem...))
			if *g.PkiID != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: PKI-ID %s, Fabric's gossip computes %x", name, *g.PkiID, sum)
			}
		}
	}

	if len(got.Folders) != len(folders) {
		t.Fatalf("folder answers: got %d, want %d", len(got.Folders), len(folders))
	}
	for i, f := range folders {
		g := got.Folders[i]
		if g.Error != "" {
			t.Errorf("%s: library could not load the MSP folder: %s", f.dir, g.Error)
			continue
		}
		local := fabricLocalMSP(t, f.dir, f.mspid)
		signer, err := local.GetDefaultSigningIdentity()
		if err != nil {
			t.Fatal(err)
		}
		fabricSerialized, err := signer.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		libSerialized, _ := hex.DecodeString(g.Serialized)
		if !bytes.Equal(libSerialized, fabricSerialized) {
			t.Errorf("%s: serialized identity differs from Fabric's:\nlibrary %x\nFabric  %x", f.dir, libSerialized, fabricSerialized)
		}
		sid := &mspproto.SerializedIdentity{}
		_ = proto.Unmarshal(fabricSerialized, sid)
		sum := sha256.Sum256(append([]byte(sid.Mspid), sid.IdBytes...))
		if g.PkiID != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: PKI-ID %s, Fabric's gossip computes %x", f.dir, g.PkiID, sum)
		}
		sig, _ := hex.DecodeString(g.Sig)
		msg, _ := hex.DecodeString(c.Folders[i].Msg)
		if err := signer.Verify(msg, sig); err != nil {
			t.Errorf("%s: Fabric refuses the library's signature: %v", f.dir, err)
		}
		// And the channel's view of that organization accepts the identity.
		id, err := mgr.DeserializeIdentity(libSerialized)
		if err != nil || id.Validate() != nil {
			t.Errorf("%s: Fabric's MSP of %s does not validate the library's identity: %v", f.dir, f.org, err)
		}
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func deref64(v *int64) any {
	if v == nil {
		return "<none>"
	}
	return *v
}

// runMSPDecide builds the crate's msp_decide example and runs it on the corpus.
func runMSPDecide(t *testing.T, work string, c *corpus) answers {
	t.Helper()
	root := repoRoot(t)
	build := exec.Command("cargo", "build", "--release", "--locked", "--example", "msp_decide")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cargo build --example msp_decide: %v\n%s", err, out)
	}
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(work, "corpus.json")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "target", "release", "examples", "msp_decide"), path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("msp_decide: %v\n%s", err, stderr.String())
	}
	var a answers
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("msp_decide output: %v\n%s", err, out)
	}
	return a
}

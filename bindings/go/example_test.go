package fabgossip_test

import (
	"fmt"
	"log"

	fabgossip "github.com/fabgossip/fabgossip/bindings/go"
	"github.com/fabgossip/fabgossip/bindings/go/identity"
)

// A peer with the library's built-in Ed25519 identity.
func ExampleOpen() {
	svc, err := fabgossip.Open(`
peer:
  id: peer0.org1
  localMspId: Org1MSP
  listenAddress: 127.0.0.1:0
  address: 127.0.0.1:7051
  fileSystemPath: /tmp/peer0
  gossip:
    bootstrap: 127.0.0.1:7052
fabgossip:
  trustedOrgs: [Org1MSP, Org2MSP]
`, nil)
	if err != nil {
		log.Fatal(err) // *fabgossip.Error{Status, Detail}
	}
	defer svc.Close()
	peers, _ := svc.Peers()
	fmt.Println(len(peers), "peers known")
}

// A peer whose identity is an X.509 certificate from its MSP, checked in Go.
func ExampleInit_x509() {
	var certPEM, keyPEM, caPEM []byte // from the peer's MSP directory
	self, err := identity.NewX509("Org1MSP", certPEM, keyPEM)
	if err != nil {
		log.Fatal(err)
	}
	if err := self.TrustCA("Org1MSP", caPEM); err != nil {
		log.Fatal(err)
	}
	config := "peer: {localMspId: Org1MSP, listenAddress: 127.0.0.1:7051, fileSystemPath: /tmp/p}"
	if err := fabgossip.Init(config, self); err != nil {
		log.Fatal(err)
	}
	defer fabgossip.Shutdown()
}

// Library log lines into Go's log package.
func ExampleSetLogger() {
	err := fabgossip.SetLogger(func(level int, target, msg string) {
		log.Printf("[%d] %s: %s", level, target, msg)
	}, fabgossip.LogInfo)
	if err != nil {
		log.Fatal(err)
	}
}

// A minimal Go host: start a peer on the built-in defaults, print its view, shut down.
package main

import (
	"fmt"
	"os"
	"time"

	fabgossip "github.com/fabgossip/fabgossip/bindings/go"
)

const config = `
peer:
  localMspId: Org1MSP
  listenAddress: 127.0.0.1:0
  address: 127.0.0.1:0
  fileSystemPath: /tmp/fabgossip-minimal-go
  gossip:
    bootstrap: ''
`

func run() error {
	svc, err := fabgossip.Open(config, nil) // nil: the built-in Ed25519 identity
	if err != nil {
		return err // *fabgossip.Error: .Status, .Detail (e.g. the offending config key)
	}
	defer svc.Close()
	self, err := svc.Self()
	if err != nil {
		return err
	}
	fmt.Printf("self: %s at %s (%s link)\n", self.PKIID, self.InternalEndpoint, fabgossip.LinkMode)
	time.Sleep(time.Second)
	peers, err := svc.Peers()
	if err != nil {
		return err
	}
	fmt.Println("peers:", len(peers))
	return svc.Close()
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

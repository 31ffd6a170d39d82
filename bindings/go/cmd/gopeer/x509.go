package main

import (
	"errors"

	fabgossip "github.com/fabgossip/fabgossip/bindings/go"
)

func x509Provider(o options, mspID string) (fabgossip.MessageCryptoService, error) {
	return nil, errors.New("--crypto x509 is not available in this build")
}

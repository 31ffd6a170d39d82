package fabgossip

/*
#include <stdlib.h>
#include "fabgossip.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"runtime/cgo"
	"sync/atomic"
	"unsafe"
)

// Peer is one member of the gossip view, as the library reports it.
type Peer struct {
	PKIID            string `json:"pki_id"` // hex
	Endpoint         string `json:"endpoint"`
	InternalEndpoint string `json:"internal_endpoint"`
	Org              string `json:"org"`
	State            string `json:"state"` // "alive" or "dead"
}

// Alive reports whether the peer is in the alive part of the view.
func (p Peer) Alive() bool { return p.State == "alive" }

// Version is the library's version, e.g. "0.2.0".
func Version() string { return C.GoString(C.fg_version()) }

// Init starts the gossip service from config text. crypto nil selects the built-in Ed25519
// identities configured in the text; otherwise the library calls crypto for every
// signature, verification and identity question. The library copies everything it needs
// before Init returns.
func Init(config string, crypto MessageCryptoService) error {
	if config == "" {
		return &Error{Status: StatusInvalidArg, Detail: "empty config text"}
	}
	return initWith(config, crypto, func(arg *C.char, n C.size_t, table *C.fg_callbacks, errOut *C.fg_bytes) C.fg_status {
		return C.fg_init(arg, n, table, errOut)
	})
}

// InitFile is Init with the config read from the file at path (fg_init_from_file): relative
// paths in it resolve against the file's folder, as Fabric resolves those of its core.yaml.
func InitFile(path string, crypto MessageCryptoService) error {
	if path == "" {
		return &Error{Status: StatusInvalidArg, Detail: "empty config path"}
	}
	return initWith(path, crypto, func(arg *C.char, n C.size_t, table *C.fg_callbacks, errOut *C.fg_bytes) C.fg_status {
		return C.fg_init_from_file(arg, n, table, errOut)
	})
}

// initWith builds the callback table of crypto (none when nil) and makes one init call with
// arg, the config text or path.
func initWith(arg string, crypto MessageCryptoService,
	call func(*C.char, C.size_t, *C.fg_callbacks, *C.fg_bytes) C.fg_status) error {
	text := C.CString(arg)
	defer C.free(unsafe.Pointer(text))
	var errOut C.fg_bytes
	var st C.fg_status
	if crypto == nil {
		st = call(text, C.size_t(len(arg)), nil, &errOut)
	} else {
		self, err := crypto.SelfIdentity()
		if err != nil {
			return &Error{Status: StatusCallbackFailed, Detail: "SelfIdentity: " + err.Error()}
		}
		if len(self) == 0 {
			return &Error{Status: StatusInvalidArg, Detail: "SelfIdentity returned no bytes"}
		}
		selfC := C.CBytes(self)
		defer C.free(selfC)
		h := cgo.NewHandle(newHostTable(crypto))
		table := goCallbackTable(h, crypto)
		table.self_identity = (*C.uint8_t)(selfC)
		table.self_identity_len = C.size_t(len(self))
		// From here the library owns h: its release callback deletes it, whether or not
		// the init call succeeds.
		st = call(text, C.size_t(len(arg)), &table, &errOut)
	}
	return statusErr(st, takeBytes(&errOut))
}

// Shutdown stops the gossip service; when it returns no callback runs any more and the
// host's MessageCryptoService has been released. Calling it when nothing runs is fine.
func Shutdown() error {
	return statusErr(C.fg_shutdown(), "")
}

// Peers lists the peers this peer knows, self excluded. It never waits on the network.
func Peers() ([]Peer, error) {
	var out C.fg_bytes
	if err := statusErr(C.fg_peers(&out), ""); err != nil {
		return nil, err
	}
	raw := takeBytes(&out)
	var peers []Peer
	if err := json.Unmarshal([]byte(raw), &peers); err != nil {
		return nil, &Error{Status: StatusInternal, Detail: fmt.Sprintf("fg_peers JSON: %v", err)}
	}
	return peers, nil
}

// Self describes this peer, with the endpoint actually bound.
func Self() (Peer, error) {
	var out C.fg_bytes
	if err := statusErr(C.fg_self(&out), ""); err != nil {
		return Peer{}, err
	}
	raw := takeBytes(&out)
	var p Peer
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return Peer{}, &Error{Status: StatusInternal, Detail: fmt.Sprintf("fg_self JSON: %v", err)}
	}
	return p, nil
}

// takeBytes copies a library-owned buffer into Go memory and gives it back to the library.
func takeBytes(b *C.fg_bytes) string {
	if b.ptr == nil {
		return ""
	}
	s := string(unsafe.Slice((*byte)(unsafe.Pointer(b.ptr)), int(b.len)))
	C.fg_bytes_free(b)
	return s
}

// Service is a handle on the running gossip service; Close shuts it down once.
type Service struct {
	closed atomic.Bool
}

// Open is Init returning a handle whose Close maps to Shutdown.
func Open(config string, crypto MessageCryptoService) (*Service, error) {
	if err := Init(config, crypto); err != nil {
		return nil, err
	}
	return &Service{}, nil
}

// OpenFile is InitFile returning a handle whose Close maps to Shutdown.
func OpenFile(path string, crypto MessageCryptoService) (*Service, error) {
	if err := InitFile(path, crypto); err != nil {
		return nil, err
	}
	return &Service{}, nil
}

// Close shuts the service down; later calls return nil without touching the library.
func (s *Service) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return Shutdown()
}

// Peers is the package-level Peers.
func (s *Service) Peers() ([]Peer, error) { return Peers() }

// Self is the package-level Self.
func (s *Service) Self() (Peer, error) { return Self() }

//go:build !fabgossip_static && !fabgossip_pkgconfig

package fabgossip

// Dynamic linking (the default): the binary loads libfabgossip.so at run time. For an
// installed library, build with `-tags fabgossip_pkgconfig` (link_pkgconfig.go) instead.
//
// The flags below point at the library built in this repository (`cargo build --release`)
// and record its directory as an rpath, so tests and `go run` work without setup. A host
// using an installed library overrides them from the environment, e.g.
//
//	CGO_CFLAGS="-I$PREFIX/include" CGO_LDFLAGS="-L$PREFIX/lib -lfabgossip -Wl,-rpath,$PREFIX/lib" go build
//
// or drops the rpath and sets LD_LIBRARY_PATH=$PREFIX/lib when running the binary.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -lfabgossip -Wl,-rpath,${SRCDIR}/../../target/release
*/
import "C"

// LinkMode is "dynamic" or "static": how this binary was linked to libfabgossip.
const LinkMode = "dynamic"

//go:build fabgossip_static

package fabgossip

// Static linking (`go build -tags fabgossip_static`): libfabgossip.a is linked into the
// binary, which then needs no libfabgossip.so at run time.
//
// -Wl,-Bstatic makes the linker take libfabgossip.a even when libfabgossip.so sits in the
// same directory. A Rust staticlib does not carry its native dependencies, so they follow:
// -lgcc_s (unwinding), -lutil -lrt -lpthread -lm -ldl (the Rust standard library), as
// `cargo rustc --release -- --print native-static-libs` lists them.
// For an installed library: CGO_LDFLAGS="-L$PREFIX/lib -Wl,-Bstatic -lfabgossip -Wl,-Bdynamic
// -lgcc_s -lutil -lrt -lpthread -lm -ldl".

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -Wl,-Bstatic -lfabgossip -Wl,-Bdynamic -lgcc_s -lutil -lrt -lpthread -lm -ldl
*/
import "C"

// LinkMode is "dynamic" or "static": how this binary was linked to libfabgossip.
const LinkMode = "static"

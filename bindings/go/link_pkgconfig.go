//go:build fabgossip_pkgconfig && !fabgossip_static

package fabgossip

// Dynamic linking against an installed library (`go build -tags fabgossip_pkgconfig`): cgo
// asks pkg-config for the flags of `fabgossip`, the file `make install` writes to
// $PREFIX/lib/pkgconfig (set PKG_CONFIG_PATH for a prefix outside pkg-config's defaults).
// No rpath is recorded: the loader finds libfabgossip.so.MAJOR on its usual search path
// (ldconfig's cache, or LD_LIBRARY_PATH=$PREFIX/lib).

/*
#cgo pkg-config: fabgossip
*/
import "C"

// LinkMode is "dynamic" or "static": how this binary was linked to libfabgossip.
const LinkMode = "dynamic"

#!/usr/bin/env bash
# `make install` into temporary prefixes, then the example built against the installed copy
# through pkg-config, linked dynamically and statically, run from there.
#   tests/c/test_install.sh VERSION      (make test-install passes the crate version)
set -euo pipefail
version=${1:?usage: test_install.sh VERSION}
# The SONAME's version: MAJOR, or 0.MINOR while MAJOR is 0.
major=${version%%.*}
if [ "$major" = 0 ]; then minor=${version#0.}; major=0.${minor%%.*}; fi
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc=${CC:-cc}
passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

prefix=$tmp/prefix
make -s -C "$root" install PREFIX="$prefix" >/dev/null
lib=$prefix/lib

check "shared library is installed under its full version" test -f "$lib/libfabgossip.so.$version"
check "libfabgossip.so.$major -> libfabgossip.so.$version" \
  test "$(readlink "$lib/libfabgossip.so.$major")" = "libfabgossip.so.$version"
check "libfabgossip.so -> libfabgossip.so.$major" \
  test "$(readlink "$lib/libfabgossip.so")" = "libfabgossip.so.$major"
check "static library is installed" test -f "$lib/libfabgossip.a"
check "header is installed" cmp -s "$root/include/fabgossip.h" "$prefix/include/fabgossip.h"
# No debug sections in what is installed (the build's own artefacts keep theirs).
no_debug() { ! readelf -SW "$1" 2>/dev/null | grep -Eq '\] \.(debug_|zdebug_)'; }
check "the installed shared library has no .debug_* sections" no_debug "$lib/libfabgossip.so.$version"
check "the installed static library has no .debug_* sections" no_debug "$lib/libfabgossip.a"
echo "sizes: build .so $(stat -c %s "$root/target/release/libfabgossip.so"), installed .so" \
  "$(stat -c %s "$lib/libfabgossip.so.$version"); build .a $(stat -c %s "$root/target/release/libfabgossip.a")," \
  "installed .a $(stat -c %s "$lib/libfabgossip.a")"
soname=$(readelf -d "$lib/libfabgossip.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
check "SONAME is libfabgossip.so.$major (got '$soname')" test "$soname" = "libfabgossip.so.$major"

export PKG_CONFIG_PATH=$lib/pkgconfig
check "pkg-config knows version $version" test "$(pkg-config --modversion fabgossip)" = "$version"
check "pkg-config --cflags names the installed include dir" \
  test "$(pkg-config --cflags fabgossip | xargs)" = "-I$prefix/include"

# Shared: the binary records the SONAME and finds the library through an rpath.
# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Werror -pedantic "$root/examples/c/minimal.c" -o "$tmp/minimal-shared" \
  $(pkg-config --cflags --libs fabgossip) -Wl,-rpath,"$lib"
needed=$(readelf -d "$tmp/minimal-shared" | sed -n 's/.*(NEEDED).*\[\(libfabgossip[^]]*\)\]/\1/p')
check "the shared build needs libfabgossip.so.$major (got '$needed')" test "$needed" = "libfabgossip.so.$major"
resolved=$(ldd "$tmp/minimal-shared" | sed -n 's/.*libfabgossip[^ ]* => \([^ ]*\).*/\1/p')
check "the loader resolves the installed copy (got '$resolved')" test "$resolved" = "$lib/libfabgossip.so.$major"
check "the shared build runs" "$tmp/minimal-shared"

# Static: pkg-config --static adds Libs.private; -l:libfabgossip.a picks the archive even
# though the shared library sits in the same directory.
static_libs=$(pkg-config --static --libs fabgossip | sed 's/-lfabgossip/-l:libfabgossip.a/')
# shellcheck disable=SC2046,SC2086
"$cc" -std=c11 -Wall -Werror -pedantic "$root/examples/c/minimal.c" -o "$tmp/minimal-static" \
  $(pkg-config --cflags fabgossip) $static_libs
check "the static build needs no libfabgossip.so" \
  bash -c "! readelf -d '$tmp/minimal-static' | grep -q 'NEEDED.*libfabgossip'"
check "the static build runs" "$tmp/minimal-static"

# fg_version() of the installed library equals the crate version and the installed header.
# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Werror -pedantic "$root/tests/c/version_check.c" -o "$tmp/version_check" \
  $(pkg-config --cflags --libs fabgossip) -Wl,-rpath,"$lib"
check "fg_version() equals FG_VERSION_* of the header" "$tmp/version_check"
check "fg_version() equals the crate version $version" test "$("$tmp/version_check")" = "$version"

# The Python binding, imported from outside the repository with FABGOSSIP_LIB unset, finds
# the installed library through pkg-config's libdir.
pycopy=$tmp/site/a/b
mkdir -p "$pycopy"
cp -r "$root/bindings/python/fabgossip" "$pycopy/"
pyloaded=$(cd "$tmp" && env -u FABGOSSIP_LIB PYTHONPATH="$pycopy" "${PYTHON:-python3}" -c \
  'import os; from fabgossip import _lib; print(os.path.realpath(_lib.PATH)); print(_lib.lib.fg_version().decode())' \
  2>&1) || true
pypath=$(echo "$pyloaded" | head -1)
check "Python loads the installed library via pkg-config (got '$pypath')" \
  test "$pypath" = "$lib/libfabgossip.so.$version"
check "Python's fg_version() of the installed library is $version" \
  test "$(echo "$pyloaded" | sed -n 2p)" = "$version"

# The Go binding links the installed library through `#cgo pkg-config: fabgossip`.
if command -v go >/dev/null; then
  gomod=$tmp/gohost
  mkdir -p "$gomod"
  printf '%s\n' 'module example.com/gohost' '' 'go 1.22' '' \
    'require github.com/fabgossip/fabgossip/bindings/go v0.0.0' '' \
    "replace github.com/fabgossip/fabgossip/bindings/go => $root/bindings/go" >"$gomod/go.mod"
  cat >"$gomod/main.go" <<'GO'
package main

import (
	"fmt"

	fabgossip "github.com/fabgossip/fabgossip/bindings/go"
)

func main() { fmt.Println(fabgossip.Version(), fabgossip.LinkMode) }
GO
  # Go's build cache does not key on pkg-config's answer: naming the prefix in CGO_CFLAGS
  # keeps a package built against an earlier (now removed) prefix from being reused.
  (cd "$gomod" && CGO_CFLAGS="-O2 -g -I$prefix/include" GOFLAGS=-mod=mod go build -tags fabgossip_pkgconfig -o "$tmp/gohost-bin" .) \
    >"$tmp/go-build.log" 2>&1 || cat "$tmp/go-build.log"
  check "Go builds with -tags fabgossip_pkgconfig against the prefix" test -x "$tmp/gohost-bin"
  check "the pkg-config Go build records no rpath" \
    bash -c "! readelf -d '$tmp/gohost-bin' | grep -q 'RPATH\|RUNPATH'"
  goresolved=$(LD_LIBRARY_PATH=$lib ldd "$tmp/gohost-bin" | sed -n 's/.*libfabgossip[^ ]* => \([^ ]*\).*/\1/p')
  check "the Go program loads the installed copy (got '$goresolved')" \
    test "$goresolved" = "$lib/libfabgossip.so.$major"
  check "the Go program runs against the installed library" \
    test "$(LD_LIBRARY_PATH=$lib "$tmp/gohost-bin")" = "$version dynamic"
else
  fail "go is not installed: the Go pkg-config link was not checked"
fi

# DESTDIR stages the files; the .pc file names the final prefix, not the staging dir.
make -s -C "$root" install DESTDIR="$tmp/stage" PREFIX=/opt/fabgossip >/dev/null
check "DESTDIR stages under the prefix" test -f "$tmp/stage/opt/fabgossip/lib/libfabgossip.so.$version"
check "the staged .pc file names the final prefix" \
  grep -qx "prefix=/opt/fabgossip" "$tmp/stage/opt/fabgossip/lib/pkgconfig/fabgossip.pc"

make -s -C "$root" uninstall DESTDIR="$tmp/stage" PREFIX=/opt/fabgossip >/dev/null
left=$(find "$tmp/stage" -type f -o -type l)
check "make uninstall removes every installed file (left: $left)" test -z "$left"

echo "install: $passed passed, $failed failed"
test "$failed" -eq 0

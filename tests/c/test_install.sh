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

# Entry points. `make demo` runs the demo; `make test` runs every test (CI calls it).
# Both start from a fresh machine: they install what the tests need from this repository's own
# files (Rust crates via cargo, Python packages via requirements-test.txt, Go modules via go.mod,
# Debian packages for the C/C++ tests via apt when missing: deps-c).

CARGO ?= cargo
PYTHON ?= python3
LIB := target/release/libfabgossip.so
export FABGOSSIP_LIB := $(CURDIR)/$(LIB)
export PYTHONPATH := $(CURDIR)/bindings/python

# Version from Cargo.toml's [package] section: the installed file names and the SONAME use it.
VERSION := $(shell sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
# The SONAME's version: MAJOR, or 0.MINOR while MAJOR is 0 (semver: 0.1 and 0.2 may differ).
MAJOR := $(shell echo $(VERSION) | awk -F. '{ print ($$1 == "0") ? "0." $$2 : $$1 }')

# `make install PREFIX=... [DESTDIR=...]` (GNU names; libdir/includedir may be overridden).
PREFIX ?= /usr/local
libdir ?= $(PREFIX)/lib
includedir ?= $(PREFIX)/include

.PHONY: all build demo test lint test-rust test-c test-python test-go test-interop deps-python deps-c \
	fabricnode gopeer bench install uninstall test-install test-sanitize test-cpp test-examples \
	flooder test-fuzz fuzz fabric-bin test-fabnet test-faults deps-faults demo-fabric bench-fabnet

all: build

build:
	$(CARGO) build --release --locked

deps-python:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r requirements-test.txt

# One cargo run for the library and the test orderer: built apart, the example's dev-dependency
# features (tokio test-util) differ from the library's and each build would redo the other.
demo:
	$(CARGO) build --release --locked --lib --example orderer
	$(PYTHON) examples/demo.py

test: build deps-python deps-c lint test-rust test-c test-examples test-python test-go test-interop test-fabnet \
	test-faults

# rustfmt's layout and clippy's lints, warnings refused.
lint:
	@$(CARGO) clippy --version >/dev/null 2>&1 && $(CARGO) fmt --version >/dev/null 2>&1 || \
		rustup component add clippy rustfmt
	$(CARGO) fmt --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

# `cargo test` includes the short fuzz pass (tests/fuzz.rs: about 3 s per target, seeded).
test-rust:
	$(CARGO) test --release --locked

# The short fuzz pass alone.
test-fuzz:
	$(CARGO) test --release --locked --test fuzz

# A long fuzz run: FUZZ_SECS per target (default 600), two targets at a time; prints the
# inputs executed per target and saves crashing inputs under target/fuzz-crashes/<target>/.
# FUZZ_SEED picks another input sequence; FUZZ_CORPUS=dir saves inputs with new outcomes.
FUZZ_SECS ?= 600
FUZZ_SEED ?= 1
fuzz:
	FABGOSSIP_FUZZ_SECS=$(FUZZ_SECS) FABGOSSIP_FUZZ_SEED=$(FUZZ_SEED) \
		$(if $(FUZZ_CORPUS),FABGOSSIP_FUZZ_SAVE_CORPUS=$(abspath $(FUZZ_CORPUS))) \
		$(CARGO) test --release --locked --test fuzz -- --nocapture --test-threads 2

# Debian packages the C/C++ tests use (cmake, GoogleTest, OpenSSL headers for the C++ suite's
# Ed25519, valgrind, pkg-config); a fresh machine lacks some of them. Installs the missing ones
# only, so a machine that has them needs neither apt nor root.
deps-c:
	@missing=""; \
	command -v cmake >/dev/null || missing="$$missing cmake"; \
	command -v valgrind >/dev/null || missing="$$missing valgrind"; \
	command -v pkg-config >/dev/null || missing="$$missing pkgconf"; \
	test -f /usr/include/gtest/gtest.h || missing="$$missing libgtest-dev"; \
	test -f /usr/include/openssl/evp.h || missing="$$missing libssl-dev"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The C hosts: C peer and C++ ABI check, the minimal example, the installed package, the
# example and the C peer under AddressSanitizer and valgrind, and the C++ GoogleTest suite.
test-c: build deps-c test-install test-sanitize test-cpp
	$(MAKE) -C tests/c check
	mkdir -p build/c
	$(CC) -std=c11 -Wall -Werror -pedantic -Iinclude examples/c/minimal.c -Ltarget/release -lfabgossip -o build/c/minimal
	LD_LIBRARY_PATH=target/release build/c/minimal

# The installed libraries carry no debug info (the build's own artefacts keep theirs):
# --strip-debug keeps the symbol tables that linking and backtraces need.
STRIP ?= strip

install: build
	install -d $(DESTDIR)$(libdir)/pkgconfig $(DESTDIR)$(includedir)
	install -m 755 target/release/libfabgossip.so $(DESTDIR)$(libdir)/libfabgossip.so.$(VERSION)
	$(STRIP) --strip-debug $(DESTDIR)$(libdir)/libfabgossip.so.$(VERSION)
	ln -sfn libfabgossip.so.$(VERSION) $(DESTDIR)$(libdir)/libfabgossip.so.$(MAJOR)
	ln -sfn libfabgossip.so.$(MAJOR) $(DESTDIR)$(libdir)/libfabgossip.so
	install -m 644 target/release/libfabgossip.a $(DESTDIR)$(libdir)/libfabgossip.a
	$(STRIP) --strip-debug $(DESTDIR)$(libdir)/libfabgossip.a
	install -m 644 include/fabgossip.h $(DESTDIR)$(includedir)/fabgossip.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(libdir)|' -e 's|@INCLUDEDIR@|$(includedir)|' \
		-e 's|@VERSION@|$(VERSION)|' fabgossip.pc.in > $(DESTDIR)$(libdir)/pkgconfig/fabgossip.pc

uninstall:
	rm -f $(DESTDIR)$(libdir)/libfabgossip.so.$(VERSION) $(DESTDIR)$(libdir)/libfabgossip.so.$(MAJOR) \
		$(DESTDIR)$(libdir)/libfabgossip.so $(DESTDIR)$(libdir)/libfabgossip.a \
		$(DESTDIR)$(includedir)/fabgossip.h $(DESTDIR)$(libdir)/pkgconfig/fabgossip.pc

# Installs into temporary prefixes and builds the example against them with pkg-config.
test-install: build deps-c
	tests/c/test_install.sh $(VERSION)

test-sanitize: build deps-c
	tests/c/test_sanitize.sh

# The C++ suite as is and under AddressSanitizer.
test-cpp: build deps-c
	cmake -S tests/cpp -B build/cpp -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build/cpp -j2
	ctest --test-dir build/cpp --output-on-failure --timeout 300
	cmake -S tests/cpp -B build/cpp-asan -DCMAKE_BUILD_TYPE=Debug -DFABGOSSIP_ASAN=ON >/dev/null
	cmake --build build/cpp-asan -j2
	ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build/cpp-asan --output-on-failure --timeout 300

# fabricnode: the state-transfer interop tests run a real Fabric node beside the Python peers.
# flooder: the flood tests run it against a peer process.
test-python: build deps-python fabricnode flooder
	$(PYTHON) -m pytest -q tests/python

# The README's C++ and Go host examples, built and run (the Go one linked both ways);
# tests/python/test_readme.py keeps the README's copies equal to these files and runs the
# Python one.
test-examples: build
	mkdir -p build/examples
	$(CXX) -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude examples/cpp/channel.cpp \
		-Ltarget/release -Wl,-rpath,$(CURDIR)/target/release -lfabgossip -o build/examples/channel-cpp
	build/examples/channel-cpp
	cd examples/go && go build -o $(CURDIR)/build/examples/go-minimal ./minimal \
		&& go build -tags fabgossip_static -o $(CURDIR)/build/examples/go-minimal-static ./minimal
	build/examples/go-minimal
	build/examples/go-minimal-static

# The Go binding, linked dynamically and statically.
test-go: build
	cd bindings/go && go test -count=1 ./... && go test -count=1 -tags fabgossip_static ./...

# The Go binding's peer program (benchmarks drive it like the other peer programs).
gopeer: build
	cd bindings/go && go build -o $(CURDIR)/build/gopeer ./cmd/gopeer

flooder:
	$(CARGO) build --release --locked --example flooder

fabricnode:
	cd tests/interop && go build -o $(CURDIR)/build/fabricnode ./cmd/fabricnode

# Fabric's own commands at the pin of tests/interop/go.mod (its `tool` block), for the stock Fabric
# network of tests/fabnet. Go's build cache makes a rebuild after a go.mod change a relink only;
# the binaries stay as they are while go.mod and go.sum do.
FABRIC_CMDS := orderer peer cryptogen configtxgen configtxlator osnadmin discover
FABRIC_BINS := $(addprefix build/fabric/bin/,$(FABRIC_CMDS))
FABRIC_VERSION := 2.5.9

fabric-bin: $(FABRIC_BINS)

$(FABRIC_BINS) &: tests/interop/go.mod tests/interop/go.sum
	mkdir -p build/fabric/bin
	cd tests/interop && go build -ldflags "-X github.com/hyperledger/fabric/common/metadata.Version=$(FABRIC_VERSION)" \
		-o $(CURDIR)/build/fabric/bin/ $(addprefix github.com/hyperledger/fabric/cmd/,$(FABRIC_CMDS))
	touch $(FABRIC_BINS)

# The fault suite: peers on hosts of their own (network namespaces joined by a bridge or by
# the userspace lossy wire of tests/faults/wire.py), partitions, loss and delay, kill -9 and
# restarts, a larger network (FABGOSSIP_FAULTS_PEERS, default 50). Needs root; iproute2 is
# installed when missing. Fabric gossip nodes (fabricnode) run the same partition, loss and
# leader-kill scenarios for comparison. Figures go to build/faults-figures.jsonl.
deps-faults:
	@command -v ip >/dev/null || { echo "installing: iproute2"; apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2; }

test-faults: deps-python deps-faults fabricnode
	$(CARGO) build --release --locked --lib --example orderer
	$(PYTHON) -m pytest -q -s tests/faults

# A stock Fabric network (orderer, three peers, cryptogen MSPs, TLS) checked by Fabric's own views,
# with a fabgossip peer of each host kind (Python, gopeer, the C peer) as a member.
test-fabnet: deps-python fabric-bin build gopeer
	$(MAKE) -C tests/c peer
	$(PYTHON) -m pytest -q tests/fabnet

# fabgossip peers of each host kind (Python, gopeer, the C peer) joined to the stock Fabric
# network of tests/fabnet; ends with every peer's height and last block hash side by side.
# BLOCKS=n makes n blocks (default 20).
demo-fabric: deps-python fabric-bin build gopeer
	$(MAKE) -C tests/c peer
	$(PYTHON) tests/fabnet/demo.py --blocks $(or $(BLOCKS),20)

# The stock-network benchmark (not part of `make test`): blocks from Fabric's orderer to N Fabric
# and N fabgossip followers of Org1, and VerifyBlock's cost with X.509/ECDSA beside Ed25519.
# One cargo run for the library and the example (see `demo`).
bench-fabnet: deps-python fabric-bin
	$(CARGO) build --release --locked --lib --example verify_cost
	$(MAKE) -C tests/c peer
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r requirements-bench.txt
	$(PYTHON) bench/fabnet.py --peers $(or $(PEERS),3) --blocks $(or $(BLOCKS),100) \
		--out docs/fabnet.json --txt docs/fabnet.txt --plot docs/fabnet.png

test-interop: build
	cd tests/interop && go test -count=1 -timeout 20m ./...

bench: build fabricnode gopeer
	$(MAKE) -C tests/c peer
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r requirements-bench.txt
	$(PYTHON) bench/membership.py --out docs/membership.json --plot docs/membership.png
	$(PYTHON) bench/dissemination.py --peers 20 --poll-ms 1 --out docs/dissemination.json --plot docs/dissemination.png
	$(PYTHON) bench/catchup.py --out docs/catchup.json --plot docs/catchup.png
	$(PYTHON) bench/inprocess.py --out docs/inprocess.json --plot docs/inprocess.png
	$(PYTHON) bench/floor.py --out docs/floor.json

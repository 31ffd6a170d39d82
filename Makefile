# Entry points. `make demo` runs the demo; `make test` runs every test (CI calls it).
# Both start from a fresh machine: they install what the tests need from this repository's own
# files (Rust crates via cargo, Python packages via requirements-test.txt, Go modules via go.mod).

CARGO ?= cargo
PYTHON ?= python3
LIB := target/release/libfabgossip.so
export FABGOSSIP_LIB := $(CURDIR)/$(LIB)
export PYTHONPATH := $(CURDIR)/bindings/python

.PHONY: all build demo test test-rust test-c test-python test-go test-interop deps-python fabricnode bench

all: build

build:
	$(CARGO) build --release --locked

deps-python:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r requirements-test.txt

demo: build
	$(PYTHON) examples/demo.py

test: build deps-python test-rust test-c test-python test-go test-interop

test-rust:
	$(CARGO) test --release --locked

test-c: build
	$(MAKE) -C tests/c check
	mkdir -p build/c
	$(CC) -std=c11 -Wall -Werror -pedantic -Iinclude examples/c/minimal.c -Ltarget/release -lfabgossip -o build/c/minimal
	LD_LIBRARY_PATH=target/release build/c/minimal

test-python: build deps-python
	$(PYTHON) -m pytest -q tests/python

# The Go binding, linked dynamically and statically.
test-go: build
	cd bindings/go && go test -count=1 ./... && go test -count=1 -tags fabgossip_static ./...

fabricnode:
	cd tests/interop && go build -o $(CURDIR)/build/fabricnode ./cmd/fabricnode

test-interop: build
	cd tests/interop && go test -count=1 -timeout 20m ./...

bench: build fabricnode
	$(MAKE) -C tests/c peer
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r requirements-bench.txt
	$(PYTHON) bench/membership.py --out docs/membership.json --plot docs/membership.png
	$(PYTHON) bench/dissemination.py --peers 20 --poll-ms 1 --out docs/dissemination.json --plot docs/dissemination.png
	$(PYTHON) bench/catchup.py --out docs/catchup.json --plot docs/catchup.png

#!/bin/sh
# Regenerates the config blocks of the config-block tests with Fabric's own tools, built
# from the Fabric Go module that tests/interop pins:
#   genesis.block        block 0 of channel "fixturechannel" (cryptogen + configtxgen)
#   anchor-update.block  block 1: AlphaMSP's anchor peer moved to peer1.alpha.fixture.test:8051,
#                        config sequence 1 (tests/interop/cmd/configupdate, Fabric's
#                        fabric-config library computing the update)
# Certificates and keys are fresh on every run; the crypto material is thrown away.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
interop="$here/../interop"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$interop" && go build -o "$work/bin/" \
    github.com/hyperledger/fabric/cmd/configtxgen \
    github.com/hyperledger/fabric/cmd/cryptogen \
    ./cmd/configupdate)
"$work/bin/cryptogen" generate --config="$here/crypto-config.yaml" --output="$work/crypto" >/dev/null
cp "$here/configtx.yaml" "$work/"
(cd "$work" && FABRIC_CFG_PATH="$work" "$work/bin/configtxgen" -configPath "$work" \
    -profile AlphaBetaChannel -channelID fixturechannel -outputBlock "$work/genesis.block" 2>/dev/null)
"$work/bin/configupdate" -in "$work/genesis.block" -out "$work/anchor-update.block" \
    -org Alpha -anchor peer1.alpha.fixture.test:8051
cp "$work/genesis.block" "$work/anchor-update.block" "$here/"
echo "wrote $here/genesis.block and $here/anchor-update.block"

#!/usr/bin/env bash
# Runs every Sluice test: unit and property tests, server integration tests, and the
# differential tests against a real redis-server (and a real disque-server, built from
# ../shared/reference by scripts/build-disque.sh). Installs redis-server/redis-tools (Debian's
# packages) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    echo "== installing redis-server and redis-tools (Debian packages)"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    # The client-library tests (redis-compat-tests/clients) run ioredis and node-redis.
    echo "== installing nodejs and npm (Debian packages)"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
echo "== $(redis-server --version)"

# The reference Disque for the Disque-differential cases (redis-compat-tests/tests/disque*.rs),
# built from ../shared/reference into target/disque (once; about a minute). Without the source,
# a compiler, or a successful build, those cases are skipped, saying so.
if ls ../shared/reference/disque-1.0-rc1-*.tar.gz >/dev/null 2>&1 \
    && { ! command -v make >/dev/null 2>&1 || ! command -v cc >/dev/null 2>&1; }; then
    echo "== installing make and gcc (Debian packages) to build disque-server"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq || true
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make gcc >/dev/null || true
fi
echo "== disque-server"
disque_line="$(./scripts/build-disque.sh | tail -n1 || true)"
case "$disque_line" in
    DISQUE_BIN=*) export DISQUE_BIN="${disque_line#DISQUE_BIN=}"; echo "== $("$DISQUE_BIN" --version)" ;;
    *) unset DISQUE_BIN ;;
esac

echo "== building"
cargo build --workspace --all-targets --locked

echo "== testing"
export SLUICE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/sluice"
cargo test --workspace --locked

# The vendored lsm-tree's version-history tests, including the one for Sluice's patches to its
# version lock (vendor/README.md): vendored crates are not workspace members, so the line
# above does not run them. About 40 s on 2 cores (its dev-dependencies build once).
echo "== testing vendor/lsm-tree's version history (patched)"
cargo test --lib --locked --manifest-path vendor/lsm-tree/Cargo.toml \
    --target-dir "${CARGO_TARGET_DIR:-$PWD/target}/vendor-lsm-tree" super_version

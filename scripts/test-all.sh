#!/usr/bin/env bash
# Runs every Sluice test: unit and property tests, server integration tests, and the
# differential tests against a real redis-server. Installs redis-server/redis-tools (Debian's
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

echo "== building"
cargo build --workspace --all-targets --locked

echo "== testing"
export SLUICE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/sluice"
cargo test --workspace --locked

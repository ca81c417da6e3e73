#!/usr/bin/env bash
# Builds the reference Disque (1.0-rc1) from ../shared/reference/disque-1.0-rc1-*.tar.gz into
# target/disque/, for the Disque-differential compat tests (redis-compat-tests/tests/disque*.rs)
# and the job-queue bench. Skips the build when the binary is already there for this tarball.
#
# Prints the path of disque-server on its last line of stdout when it is available
# (`DISQUE_BIN=…`), so that callers can `eval "$(scripts/build-disque.sh | tail -n1)"`.
# Never fails: when the tarball or a C compiler is missing, or the build fails, it says why on
# stderr and exits 0 without the binary (the Disque cases are then skipped, saying so).
#
#   DISQUE_SRC_TARBALL  the tarball (default: the newest ../shared/reference/disque-1.0-rc1-*.tar.gz)
#   DISQUE_CACHE_DIR    where to build (default: ${CARGO_TARGET_DIR:-target}/disque)
set -uo pipefail
cd "$(dirname "$0")/.."

say() { echo "build-disque: $*" >&2; }

tarball="${DISQUE_SRC_TARBALL:-}"
if [ -z "$tarball" ]; then
    tarball="$(ls -1 ../shared/reference/disque-1.0-rc1-*.tar.gz 2>/dev/null | sort | tail -n1)"
fi
if [ -z "$tarball" ] || [ ! -f "$tarball" ]; then
    say "no Disque source (../shared/reference/disque-1.0-rc1-*.tar.gz is missing): not building disque-server; the Disque-differential cases will be skipped"
    exit 0
fi

target="${CARGO_TARGET_DIR:-$PWD/target}"
cache="${DISQUE_CACHE_DIR:-$target/disque}"
stamp_want="$(basename "$tarball") $(cksum <"$tarball" | cut -d' ' -f1)"
bin="$cache/bin/disque-server"
if [ -x "$bin" ] && [ -f "$cache/bin/.source" ] && [ "$(cat "$cache/bin/.source")" = "$stamp_want" ]; then
    say "disque-server already built: $bin"
    echo "DISQUE_BIN=$bin"
    exit 0
fi

for tool in make cc tar; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        say "'$tool' not found: cannot build disque-server; the Disque-differential cases will be skipped (Debian: apt-get install build-essential)"
        exit 0
    fi
done

src="$cache/src"
rm -rf "$src" "$cache/bin"
mkdir -p "$src" "$cache/bin"
if ! tar xzf "$tarball" -C "$src" --strip-components=1; then
    say "cannot unpack $tarball; the Disque-differential cases will be skipped"
    exit 0
fi

jobs="$(nproc 2>/dev/null || echo 2)"
log="$cache/build.log"
say "building disque-server from $(basename "$tarball") (about a minute; log: $log)"
# Plain flags first (gcc 12 builds it as is). Newer compilers (gcc >= 14, clang 16) turn old-C
# warnings into errors and gcc >= 10 defaults to -fno-common: retry once with the flags that
# restore the old defaults.
if ! make -C "$src" -j"$jobs" >"$log" 2>&1; then
    say "plain build failed; retrying with -fcommon -std=gnu99 and old-C warnings allowed"
    make -C "$src" distclean >/dev/null 2>&1 || true
    old_c="-fcommon -Wno-error=implicit-function-declaration -Wno-error=int-conversion -Wno-error=incompatible-pointer-types"
    if ! make -C "$src" -j"$jobs" STD="-std=gnu99" CFLAGS="$old_c" >>"$log" 2>&1; then
        say "building disque-server failed (last lines of $log below); the Disque-differential cases will be skipped"
        tail -n 20 "$log" >&2
        exit 0
    fi
fi
cp "$src/src/disque-server" "$src/src/disque" "$cache/bin/"
echo "$stamp_want" >"$cache/bin/.source"
say "built $bin"
echo "DISQUE_BIN=$bin"

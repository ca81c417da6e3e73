"""redis-py's own stream tests, unchanged, against a server: the proof that a client library's
version-gated stream features (XACKDEL, XDELEX, KEEPREF/DELREF/ACKED, XREADGROUP CLAIM, XNACK,
IDMP/XCFGSET, MAXCOUNT/MAXSIZE, ENTRIESREAD limits...) switch on and work with its normal API.

Usage: redis_py_upstream_streams.py HOST PORT

The tests come from redis-py's source distribution (pinned by version and sha256 below),
downloaded once into a cache beside the interpreter's environment. redis-py gates each test on
the server's `redis_version` (`skip_if_server_version_lt`), so a server that reports an old
version silently skips the new ones: this script fails if any selected test is skipped or
fails, except the few listed in ALLOWED_SKIPS with the reason. It runs pytest with the same
interpreter, whose environment must hold the pins of redis-py-tests-requirements.txt.
"""

import hashlib
import os
import re
import subprocess
import sys
import tarfile

VERSION = "8.1.0"
SDIST = f"redis-{VERSION}.tar.gz"
SHA256 = "6e1a19beef9225c83efd689c7e6b7da2d5215b1f42cd13b7fc3714d0a09c7b25"

# Every stream test of tests/test_commands.py (the sync client; the asyncio suite repeats them).
SELECT = (
    "stream or xadd or xread or xack or xnack or xdel or xtrim or xclaim or xautoclaim "
    "or xpending or xinfo or xgroup or xlen or xrange or xrevrange or xsetid or xcfgset"
)

# Tests that may be skipped, and why. Anything else skipped is a failure: a skip means the
# library decided, from the reported version, that the server lacks the feature.
ALLOWED_SKIPS = {
    # Tests of the behaviour before a change, gated with skip_if_server_version_gte: they are
    # skipped because the server reports a newer version (e.g. ENTRIESREAD capped since 8.2.2).
    "Redis version required <",
}


def cache_dir():
    d = os.environ.get("REDIS_PY_TESTS_CACHE") or os.path.join(sys.prefix, "redis-py-upstream-tests")
    os.makedirs(d, exist_ok=True)
    return d


def fetch_tests():
    cache = cache_dir()
    root = os.path.join(cache, f"redis-{VERSION}")
    if os.path.isfile(os.path.join(root, "tests", "test_commands.py")):
        return root
    tarball = os.path.join(cache, SDIST)
    if not os.path.isfile(tarball):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
             "--no-deps", "--no-binary", ":all:", "-d", cache, f"redis=={VERSION}"],
            check=True,
        )
    with open(tarball, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != SHA256:
        os.remove(tarball)
        sys.exit(f"{SDIST}: sha256 {digest}, expected {SHA256}")
    with tarfile.open(tarball) as t:
        members = [m for m in t.getmembers()
                   if m.name.startswith(f"redis-{VERSION}/tests/")
                   or m.name == f"redis-{VERSION}/pyproject.toml"]
        t.extractall(cache, members=members, filter="data")
    return root


def main():
    host, port = sys.argv[1], sys.argv[2]
    root = fetch_tests()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_commands.py",
         f"--redis-url=redis://{host}:{port}", "-k", SELECT, "-rsfE", "-q",
         "-p", "no:cacheprovider", "--timeout", "60"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )
    out = proc.stdout + proc.stderr
    summary = [l for l in out.splitlines() if re.search(r"\d+ (passed|failed)", l)]
    failed = [l for l in out.splitlines() if l.startswith(("FAILED", "ERROR"))]
    skipped = [l for l in out.splitlines() if l.startswith("SKIPPED")
               and not any(a in l for a in ALLOWED_SKIPS)]
    if proc.returncode not in (0, 1) or failed or skipped or not summary:
        tail = "\n".join(out.splitlines()[-60:])
        sys.exit(f"redis-py {VERSION} stream tests against {host}:{port}:\n"
                 + "\n".join(failed + skipped) + f"\n--- pytest output (tail) ---\n{tail}")
    print(f"redis-py {VERSION} upstream stream tests: {summary[-1].strip('= ')}")


if __name__ == "__main__":
    main()

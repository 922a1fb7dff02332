#!/usr/bin/env bash
# The test command (README, CI): install the external tools the tests run
# against, build the WASM plugins, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# A /dev/null that is a regular file (something renamed a file over it as
# root) hands old output to every program reading it: cargo's rustc probe
# then reads stale compiler errors as its source and the build fails. Put
# the device back (atomically: a writer in between would recreate the file)
# or stop with the reason.
if [ ! -c /dev/null ]; then
  if [ "$(id -u)" = 0 ] && mknod -m 666 /dev/null.gsec-fix c 1 3 2>/dev/null; then
    mv -f /dev/null.gsec-fix /dev/null
    echo "test.sh: /dev/null was a regular file; recreated the device" >&2
  else
    echo "test.sh: /dev/null is not the null device; recreate it as root: mknod -m 666 /dev/null c 1 3" >&2
    exit 2
  fi
fi
bash scripts/install-test-deps.sh
if [ -x scripts/build-plugins.sh ]; then bash scripts/build-plugins.sh; fi
# The plugins' own unit tests (SDK: SigV4, retries, JSON paths, dispatch;
# each plugin against the SDK's recorded-fake harness), natively: plugins/
# is a workspace of its own that `cargo test` below does not see.
cargo test --locked --manifest-path plugins/Cargo.toml
cargo test --locked "$@"
# The rule pack's samples, checked independently of the engine (Python's
# re): every tp found whole, no fp found (docs/rules.md).
python3 scripts/check_rules.py
# Issue 11's adversarial run: every hostile-input defect found so far,
# reproduced against the binary the suite just built.
bash scripts/adversarial.sh target/debug/gsec
# Issue 15: the gsec-cli wheel and the language: python pre-commit hook.
bash scripts/test-wheel.sh
# Issue 11: every fuzz target for a minute (two at a time), starting from
# its committed seeds (the fixtures and every finding-* input of a fixed
# defect), built on the dependencies `cargo test` just compiled
# (scripts/fuzz.sh); fails on any crash. GSEC_FUZZ_SECONDS=0: the seeds
# only (seconds, deterministic); see docs/security.md, "Fuzzing".
GSEC_FUZZ_SEED="${GSEC_FUZZ_SEED:-1}" bash scripts/fuzz.sh "${GSEC_FUZZ_SECONDS:-60}"

#!/usr/bin/env bash
# The test command (README, CI): install the external tools the tests run
# against, build the WASM plugins, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
if [ -x scripts/build-plugins.sh ]; then bash scripts/build-plugins.sh; fi
cargo test --locked "$@"
# Issue 11's adversarial run: every hostile-input defect found so far,
# reproduced against the binary the suite just built.
bash scripts/adversarial.sh target/debug/gsec
# Issue 15: the gsec-cli wheel and the language: python pre-commit hook.
bash scripts/test-wheel.sh
# Issue 11: the cargo-fuzz targets, when asked (GSEC_FUZZ_SECONDS=60): their
# instrumented build of gsec and its dependencies takes longer on two cores
# than the rest of this script, so CI leaves it to scripts/fuzz.sh.
if [ "${GSEC_FUZZ_SECONDS:-0}" -gt 0 ]; then
  bash scripts/fuzz.sh "$GSEC_FUZZ_SECONDS"
fi

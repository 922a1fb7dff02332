#!/usr/bin/env bash
# The test command (README, CI): install the external tools the tests run
# against, build the WASM plugins, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
if [ -x scripts/build-plugins.sh ]; then bash scripts/build-plugins.sh; fi
cargo test --locked "$@"

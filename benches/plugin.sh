#!/usr/bin/env bash
# Plugin start-up through the real binary, with hyperfine:
#   cold  = first use of a plugin (cranelift compile, empty module cache)
#   warm  = compiled module loaded from the cache (target: < 10 ms)
#   base  = the same binary doing no wasm at all (`gsec plugin list` with no
#           plugins configured), so the plugin's own cost is warm - base.
# Each `plugin call random create` loads the plugin (sha256 pin, cache,
# instantiate + `info`) and runs `create` in a fresh instance.
#
# Usage: benches/plugin.sh            (builds gsec --release)
#        GSEC_BIN=target/debug/gsec benches/plugin.sh
set -eu
. "$(dirname "$0")/common.sh"
need hyperfine git
wasm=$(GSEC_BUILD_QUIET=1 "$root/scripts/build-plugins.sh" | grep '/random.wasm$')
gsec_release
bin=$GSEC

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" GSEC_CACHE_DIR="$work/cache" GSEC_AGE_KEY_FILE="$work/key.txt" NO_COLOR=1
mkdir -p "$HOME" "$work/repo/plugins" "$work/empty"
cd "$work/empty" && git init -q && "$bin" keygen -o "$GSEC_AGE_KEY_FILE" >/dev/null 2>&1 && "$bin" init >/dev/null 2>&1
cd "$work/repo" && git init -q && "$bin" init >/dev/null 2>&1
cp "$wasm" plugins/random.wasm
sha=$(sha256sum plugins/random.wasm | cut -d' ' -f1)
printf 'plugins:\n  random:\n    path: plugins/random.wasm\n    sha256: %s\n' "$sha" >> .gsec.yaml
"$bin" plugin call random create >/dev/null   # sanity + warm the cache

# Peers have no wasm plugins; their bare start-up is the reference for
# "instant" on this machine.
peers=""
command -v sops >/dev/null && peers="$peers sops"
command -v age >/dev/null && peers="$peers age"
set -- -n "base: gsec plugin list (no plugins)" "$bin -C $work/empty plugin list" \
    -n "warm: gsec plugin call random create" "$bin plugin call random create"
for p in $peers; do
    case $p in
        sops) set -- "$@" -n "peer: sops --version" "sops --disable-version-check --version" ;;
        age) set -- "$@" -n "peer: age --version" "age --version" ;;
    esac
done
hyperfine -N --warmup 5 --min-runs 30 --export-json "$work/warm.json" "$@"
hyperfine -N --min-runs 10 --prepare "rm -rf $GSEC_CACHE_DIR" \
    -n "cold: gsec plugin call random create (empty cache)" "$bin plugin call random create"

echo "In-process breakdown (GSEC_PLUGIN_DEBUG=1), cold then warm:"
rm -rf "$GSEC_CACHE_DIR"
GSEC_PLUGIN_DEBUG=1 "$bin" plugin call random create 2>&1 >/dev/null | sed 's/^/  cold: /'
GSEC_PLUGIN_DEBUG=1 "$bin" plugin call random create 2>&1 >/dev/null | sed 's/^/  warm: /'

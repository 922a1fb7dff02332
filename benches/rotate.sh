#!/usr/bin/env bash
# Cost of one crash-safe rotation, side by side with one plain encrypted
# write, with hyperfine:
#   sops set      = the peer: write one value into a sops file (age)
#   gsec set      = gsec's plain write of one value
#   gsec rotate   = a full rotation with the `random` plugin (warm module
#                   cache): journal start, create, pending write, verify,
#                   promote into the environment file, state update,
#                   journal cleared - four fsynced encrypted writes and two
#                   plugin calls
# No network: the random plugin declares no hosts.
#
# Usage: benches/rotate.sh            (builds gsec --release)
#        GSEC_BIN=target/debug/gsec benches/rotate.sh
set -eu
. "$(dirname "$0")/common.sh"
need hyperfine sops git
wasm=$("$root/scripts/build-plugins.sh" | grep '/random.wasm$')
gsec_release
bin=$GSEC
scratch_project
export GSEC_CACHE_DIR="$work/cache" NO_COLOR=1
mkdir -p plugins
cp "$wasm" plugins/random.wasm
sha=$(sha256sum plugins/random.wasm | cut -d' ' -f1)
printf 'plugins:\n  random:\n    path: plugins/random.wasm\n    sha256: %s\nsecrets:\n  DB_PASSWORD:\n    rotation: {plugin: random}\n' "$sha" >> .gsec.yaml
printf 'initial' | "$bin" set DB_PASSWORD --env production 2>/dev/null
"$bin" rotate DB_PASSWORD --env production 2>/dev/null   # sanity + warm the cache
cp secrets/production.yaml "$work/sops.yaml"

# A new value before every run, so `gsec set` really writes (it skips
# no-op writes); sops rewrites the file on every `set` anyway.
hyperfine -N --warmup 3 --min-runs 30 --export-json "$work/rotate.json" \
    --prepare "sh -c 'head -c 12 /dev/urandom | od -An -tx1 | tr -d \" \\n\" > $work/v.txt'" \
    -n "sops set (one value)" "sops set $work/sops.yaml '[\"OTHER\"]' '\"v\"'" \
    -n "gsec set (one value)" "$bin set OTHER --env production --from-file $work/v.txt" \
    -n "gsec rotate (random plugin, warm)" "$bin rotate DB_PASSWORD --env production"

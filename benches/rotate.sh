#!/bin/sh
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
root=$(cd "$(dirname "$0")/.." && pwd)
for t in hyperfine sops; do
    command -v $t >/dev/null || { echo "rotate.sh: needs $t" >&2; exit 2; }
done
wasm=$("$root/scripts/build-plugins.sh" | grep '/random.wasm$')
if [ -z "${GSEC_BIN:-}" ]; then
    cargo build --release --manifest-path "$root/Cargo.toml" >&2
    GSEC_BIN="$root/target/release/gsec"
fi
bin=$(cd "$(dirname "$GSEC_BIN")" && pwd)/$(basename "$GSEC_BIN")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" GSEC_CACHE_DIR="$work/cache" GSEC_AGE_KEY_FILE="$work/key.txt" SOPS_AGE_KEY_FILE="$work/key.txt" NO_COLOR=1
mkdir -p "$HOME" "$work/repo/plugins"
cd "$work/repo" && git init -q
"$bin" keygen -o "$GSEC_AGE_KEY_FILE" >/dev/null 2>&1
"$bin" init >/dev/null 2>&1
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

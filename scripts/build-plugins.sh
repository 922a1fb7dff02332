#!/bin/sh
# Build every plugin crate in plugins/ (except the SDK) to wasm32 and copy
# the results to target/plugins/<crate name>.wasm, printing each path.
#
# Uses rustup's toolchain when it has the wasm32-unknown-unknown target;
# otherwise Debian's (rustc-web + build-std, see docs/plugins.md), installing
# it with apt-get when missing and running as root. Idempotent: cargo skips
# work when nothing changed and files are only copied when they differ.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
manifest="$root/plugins/Cargo.toml"
out="$root/target/plugins"
export CARGO_TARGET_DIR="$root/plugins/target"
quiet=${GSEC_BUILD_QUIET:+--quiet}

if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    cargo build $quiet --release --workspace --lib --examples --target wasm32-unknown-unknown --manifest-path "$manifest"
else
    if ! [ -x /usr/bin/cargo ] || ! command -v wasm-ld-19 >/dev/null 2>&1 || ! [ -d /usr/lib/rustlib/src/rust/library ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            # A fresh machine has no package lists yet.
            apt-get update -qq >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q rustc-web cargo-web rust-web-src lld-19 wasi-libc >&2
        else
            echo "build-plugins: need the wasm32-unknown-unknown target: run 'rustup target add wasm32-unknown-unknown'," >&2
            echo "  or (Debian, as root) 'apt-get install rustc-web cargo-web rust-web-src lld-19 wasi-libc'" >&2
            exit 2
        fi
    fi
    # Debian's cargo/rustc, not rustup's shims: the host build keeps rustup.
    RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-19 \
        /usr/bin/cargo build $quiet --release --workspace --lib --examples -Zbuild-std=std,panic_abort \
        --target wasm32-unknown-unknown --manifest-path "$manifest"
fi

mkdir -p "$out"
for dir in "$root"/plugins/*/; do
    name=$(basename "$dir")
    [ "$name" = sdk ] || [ "$name" = target ] && continue
    [ -f "$dir/Cargo.toml" ] || continue
    crate=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -n1 | tr - _)
    src="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/$crate.wasm"
    [ -f "$src" ] || { echo "build-plugins: $src was not built" >&2; exit 2; }
    dst="$out/$name.wasm"
    if ! cmp -s "$src" "$dst"; then
        cp "$src" "$dst.tmp.$$" && mv "$dst.tmp.$$" "$dst"
    fi
    echo "$dst"
done
# SDK examples (the guide's example plugin), as target/plugins/example-NAME.wasm.
for src in "$CARGO_TARGET_DIR"/wasm32-unknown-unknown/release/examples/*.wasm; do
    [ -f "$src" ] || continue
    case $(basename "$src") in *-*) continue ;; esac   # cargo's hashed copies
    dst="$out/example-$(basename "$src")"
    if ! cmp -s "$src" "$dst"; then
        cp "$src" "$dst.tmp.$$" && mv "$dst.tmp.$$" "$dst"
    fi
    echo "$dst"
done

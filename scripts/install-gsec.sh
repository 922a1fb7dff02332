#!/usr/bin/env bash
# Install gsec into $GSEC_ROOT/bin: the prebuilt release binary when one
# exists for this platform and version (verified against the release's
# SHA256SUMS; a mismatch is refused), else a build from source.
# Used by action.yml; usable on any machine.
#
#   GSEC_VERSION      vX.Y.Z to install; empty: build from $GSEC_SOURCE
#   GSEC_ROOT         install root (default ~/.local)
#   GSEC_SOURCE       source tree for the fallback build (default: this repo)
#   GSEC_RELEASE_URL  base of the release downloads
#                     (default https://github.com/gsec-dev/gsec/releases/download)
set -euo pipefail

root=${GSEC_ROOT:-$HOME/.local}
source_dir=${GSEC_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
base=${GSEC_RELEASE_URL:-https://github.com/gsec-dev/gsec/releases/download}
version=${GSEC_VERSION:-}

say() { echo "install-gsec: $*" >&2; }
fail() { echo "::error title=gsec install::$*"; say "$*"; exit 1; }

target() {
  local os arch
  os=$(uname -s)
  arch=$(uname -m)
  case "$os/$arch" in
    Linux/x86_64) echo x86_64-unknown-linux-musl ;;
    Linux/aarch64 | Linux/arm64) echo aarch64-unknown-linux-musl ;;
    Darwin/x86_64) echo x86_64-apple-darwin ;;
    Darwin/arm64) echo aarch64-apple-darwin ;;
    MINGW* | MSYS* | CYGWIN*) echo x86_64-pc-windows-msvc ;;
    *) echo "" ;;
  esac
}

from_source() {
  command -v cargo >/dev/null || fail "no release binary to use ($1) and no cargo to build gsec from source"
  say "$1; building from source (a few minutes)"
  cargo install --locked --quiet --path "$source_dir" --root "$root"
}

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

mkdir -p "$root/bin"
t=$(target)
if [ -z "$version" ]; then
  from_source "no release version for this reference"
elif [ -z "$t" ]; then
  from_source "no release binary for $(uname -s)/$(uname -m)"
else
  ext=tar.gz
  case "$t" in *windows*) ext=zip ;; esac
  asset="gsec-$version-$t.$ext"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if ! curl -fsSL --retry 3 -o "$tmp/SHA256SUMS" "$base/$version/SHA256SUMS" \
    || ! curl -fsSL --retry 3 -o "$tmp/$asset" "$base/$version/$asset"; then
    from_source "no release asset $asset for $version"
  else
    want=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1 }' "$tmp/SHA256SUMS")
    [ -n "$want" ] || fail "$asset is not listed in the release's SHA256SUMS: refusing it"
    got=$(sha256 "$tmp/$asset")
    [ "$got" = "$want" ] || fail "$asset does not match the release's SHA256SUMS (expected $want, got $got): refusing to install it"
    case "$ext" in
      zip) (cd "$tmp" && unzip -q "$asset") ;;
      *) tar -xzf "$tmp/$asset" -C "$tmp" ;;
    esac
    exe=gsec
    [ "$ext" = zip ] && exe=gsec.exe
    [ -f "$tmp/gsec-$version-$t/$exe" ] || fail "$asset does not contain gsec-$version-$t/$exe"
    install -m 0755 "$tmp/gsec-$version-$t/$exe" "$root/bin/$exe.tmp"
    mv "$root/bin/$exe.tmp" "$root/bin/$exe"
    say "installed gsec $version ($t), verified against SHA256SUMS"
  fi
fi
"$root/bin/gsec" --version

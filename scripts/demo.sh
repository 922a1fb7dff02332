#!/usr/bin/env bash
# A guided run of gsec in a scratch repository: keys, environments,
# inheritance, check, and sops interop. Needs a built binary
# (`cargo build --release`); uses a private HOME so no real key is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
GSEC=${GSEC:-$PWD/target/release/gsec}
[ -x "$GSEC" ] || { echo "build first: cargo build --release" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home GSEC_AGE_KEY_FILE=$work/identity.txt
unset SOPS_AGE_KEY SOPS_AGE_KEY_FILE GSEC_AGE_KEY XDG_CONFIG_HOME
mkdir -p "$HOME" "$work/repo" && cd "$work/repo" && git init -q
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "$@"; "$@"; }
run "$GSEC" keygen -o "$GSEC_AGE_KEY_FILE"
run "$GSEC" init
step "printf 'correct horse battery staple' | gsec set DB_PASSWORD --env development,production"
printf 'correct horse battery staple' | "$GSEC" set DB_PASSWORD --env development,production
step "printf 'dev-only-token' | gsec set API_TOKEN --env development"
printf 'dev-only-token' | "$GSEC" set API_TOKEN --env development
run "$GSEC" get API_TOKEN --env local --explain
run "$GSEC" list
run cat secrets/production.yaml
step "add a required secret to .gsec.yaml, then gsec check --env production"
printf 'secrets:\n  STRIPE_KEY:\n    required: [production]\n' >> .gsec.yaml
"$GSEC" check --env production || echo "(exit $? — as expected: STRIPE_KEY is missing)"
if command -v sops >/dev/null; then
  step "SOPS_AGE_KEY_FILE=… sops decrypt secrets/production.yaml"
  SOPS_AGE_KEY_FILE=$GSEC_AGE_KEY_FILE sops decrypt secrets/production.yaml
fi
export GIT_AUTHOR_NAME=alice GIT_AUTHOR_EMAIL=alice@example.com GIT_COMMITTER_NAME=alice GIT_COMMITTER_EMAIL=alice@example.com
step "git commit, then two branches that each add a different production secret"
git add -A && git commit -qm "secrets" && git checkout -qb feature
printf 'sk_live_demo' | "$GSEC" set STRIPE_KEY --env production && git commit -qam "add STRIPE_KEY"
git checkout -q - && printf 'hunter2-demo' | "$GSEC" set SMTP_PASSWORD --env production && git commit -qam "add SMTP_PASSWORD"
run git merge --no-edit feature
run git log -p -1 --format=%s feature -- secrets/production.yaml
run "$GSEC" log --env production
run "$GSEC" check --env production
run "$GSEC" doctor || true

#!/usr/bin/env bash
# Cost of a full API-token rotation with the `cloudflare` and `gitlab`
# plugins, with hyperfine, beside one plain encrypted write:
#   sops set                        = the peer: one value into a sops file (age)
#   gsec rotate (cloudflare, dual)  = journal, verify old, GET the old token's
#                                     policies, list, POST the new token,
#                                     verify with it, promote, verify + DELETE
#                                     the old: 7 requests, 3 plugin calls
#   gsec rotate (cloudflare, roll)  = verify, PUT …/value, verify, verify old:
#                                     4 requests
#   gsec rotate (gitlab, self)      = POST …/self/rotate, GET self with the
#                                     new token, GET self with the old: 3 requests
# Each rotation also does four fsynced encrypted writes (journal, promote).
# The provider is benches/fake_tokens.py on 127.0.0.1, so the figures are
# gsec's cost, not Cloudflare's or GitLab's latency.
#
# Usage: benches/tokens.sh            (builds gsec --release)
#        GSEC_BIN=target/debug/gsec benches/tokens.sh
set -eu
. "$(dirname "$0")/common.sh"
need hyperfine sops git python3
plugins=$(GSEC_BUILD_QUIET=1 "$root/scripts/build-plugins.sh")
gsec_release
bin=$GSEC
scratch_project
export GSEC_CACHE_DIR="$work/cache" NO_COLOR=1
fake_provider fake_tokens.py "$work/tokens.json"
copy_plugins cloudflare gitlab
cat >> .gsec.yaml <<YAML
plugins:
  cloudflare:
    path: plugins/cloudflare.wasm
    sha256: $(sha plugins/cloudflare.wasm)
    hosts: ['$url']
  gitlab:
    path: plugins/gitlab.wasm
    sha256: $(sha plugins/gitlab.wasm)
    hosts: ['$url']
secrets:
  CF_DUAL:
    rotation: {plugin: cloudflare, config: {api_url: '$url/client/v4'}}
  CF_ROLL:
    rotation: {plugin: cloudflare, config: {api_url: '$url/client/v4', mode: roll}}
  GITLAB_TOKEN:
    rotation: {plugin: gitlab, config: {api_url: '$url/api/v4', expires_in_days: 30}}
YAML
val() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]], end="")' "$work/tokens.json" "$1"; }
val cloudflare | "$bin" set CF_DUAL --env production 2>/dev/null
val gitlab | "$bin" set GITLAB_TOKEN --env production 2>/dev/null
"$bin" rotate CF_DUAL --env production 2>/dev/null      # sanity + warm the cache
val cloudflare_roll | "$bin" set CF_ROLL --env production 2>/dev/null
"$bin" rotate CF_ROLL --env production 2>/dev/null
"$bin" rotate GITLAB_TOKEN --env production 2>/dev/null
cp secrets/production.yaml "$work/sops.yaml"

hyperfine -N --warmup 3 --min-runs 30 --export-json "$work/tokens.json.out" \
    -n "sops set (one value)" "sops set $work/sops.yaml '[\"OTHER\"]' '\"v\"'" \
    -n "gsec rotate (cloudflare, dual-phase)" "$bin rotate CF_DUAL --env production" \
    -n "gsec rotate (cloudflare, roll)" "$bin rotate CF_ROLL --env production" \
    -n "gsec rotate (gitlab, self-rotation)" "$bin rotate GITLAB_TOKEN --env production"

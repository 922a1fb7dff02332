#!/usr/bin/env bash
# Cost of a full Neon role-password rotation with the `neon` plugin
# (alternating roles), with hyperfine, beside one plain encrypted write:
#   sops set               = the peer: one value into a sops file (age)
#   gsec rotate (neon)     = the whole protocol: journal, reset_password of
#                            the role not in use, poll its operation, GET the
#                            role, SELECT 1 over SQL-over-HTTP, promote, reset
#                            the old role again and poll: 6 HTTP requests,
#                            3 plugin calls, four fsynced encrypted writes
# Every run switches roles (app_a → app_b → app_a …), so each is a real
# rotation. The provider is benches/fake_neon.py on 127.0.0.1, so the figures
# are gsec's cost, not Neon's latency.
#
# Usage: benches/neon.sh            (builds gsec --release)
#        GSEC_BIN=target/debug/gsec benches/neon.sh
set -eu
. "$(dirname "$0")/common.sh"
need hyperfine sops git python3
plugins=$(GSEC_BUILD_QUIET=1 "$root/scripts/build-plugins.sh")
gsec_release
bin=$GSEC
scratch_project
export GSEC_CACHE_DIR="$work/cache" NO_COLOR=1
fake_provider fake_neon.py "$work/neon.json"
copy_plugins neon
cfg="{project_id: bench-project-123456, branch_id: br-bench-123456, roles: [app_a, app_b], host: ep-bench-123456.us-east-2.aws.neon.tech, database: neondb, api_url: '$url/api/v2', sql_url: '$url/sql'}"
printf 'plugins:\n  neon:\n    path: plugins/neon.wasm\n    sha256: %s\n    hosts: [%s]\nsecrets:\n  DATABASE_URL:\n    rotation: {plugin: neon, inputs: [NEON_API_KEY], config: %s}\n' \
    "$(sha256sum plugins/neon.wasm | cut -d' ' -f1)" "$url" "$cfg" >> .gsec.yaml
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]], end="")' "$work/neon.json" "$1"; }
field api_key | "$bin" set NEON_API_KEY --env production 2>/dev/null
field url | "$bin" set DATABASE_URL --env production 2>/dev/null
"$bin" rotate DATABASE_URL --env production 2>/dev/null   # sanity + warm the cache
cp secrets/production.yaml "$work/sops.yaml"

hyperfine -N --warmup 3 --min-runs 30 --export-json "$work/neon.json.out" \
    -n "sops set (one value)" "sops set $work/sops.yaml '[\"OTHER\"]' '\"v\"'" \
    -n "gsec rotate (neon plugin, full rotation)" "$bin rotate DATABASE_URL --env production"

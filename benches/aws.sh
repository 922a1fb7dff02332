#!/usr/bin/env bash
# Cost of a full AWS access-key rotation with the `aws` plugin, with
# hyperfine, beside the warm plugin calls and one plain encrypted write:
#   sops set                    = the peer: one value into a sops file (age)
#   gsec plugin call random     = the warm plugin call of benches/plugin.sh
#   gsec plugin call aws revoke = a warm aws call: load, two SigV4-signed
#                                 requests (deactivate, delete a gone key)
#   gsec rotate (aws)           = the whole protocol: journal, ListAccessKeys,
#                                 ListUserTags, TagUser, CreateAccessKey,
#                                 GetCallerIdentity with the new key, promote,
#                                 UpdateAccessKey + DeleteAccessKey of the old
#                                 (admin mode): 7 signed requests, 3 plugin
#                                 calls, four fsynced encrypted writes
# The provider is benches/fake_aws.py on 127.0.0.1 (checks signatures and the
# two-key limit), so the figures are gsec's cost, not AWS's latency.
#
# Usage: benches/aws.sh            (builds gsec --release)
#        GSEC_BIN=target/debug/gsec benches/aws.sh
set -eu
. "$(dirname "$0")/common.sh"
need hyperfine sops git python3
plugins=$(GSEC_BUILD_QUIET=1 "$root/scripts/build-plugins.sh")
gsec_release
bin=$GSEC
scratch_project
export GSEC_CACHE_DIR="$work/cache" NO_COLOR=1
fake_provider fake_aws.py "$work/keys.json"
copy_plugins aws random
cfg="{user_name: app, admin_input: AWS_ADMIN, iam_endpoint: '$url', sts_endpoint: '$url'}"
printf 'plugins:\n  aws:\n    path: plugins/aws.wasm\n    sha256: %s\n    hosts: [%s]\n  random:\n    path: plugins/random.wasm\n    sha256: %s\nsecrets:\n  AWS_CREDENTIALS:\n    rotation: {plugin: aws, inputs: [AWS_ADMIN], config: %s}\n' \
    "$(sha plugins/aws.wasm)" "$url" "$(sha plugins/random.wasm)" "$cfg" >> .gsec.yaml
python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["app"]), end="")' "$work/keys.json" \
    | "$bin" set AWS_CREDENTIALS --env production 2>/dev/null
python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["admin"]), end="")' "$work/keys.json" \
    | "$bin" set AWS_ADMIN --env production 2>/dev/null
"$bin" rotate AWS_CREDENTIALS --env production 2>/dev/null   # sanity + warm the cache
"$bin" plugin call random create >/dev/null
cp secrets/production.yaml "$work/sops.yaml"
jcfg="{\"user_name\":\"app\",\"admin_input\":\"AWS_ADMIN\",\"iam_endpoint\":\"$url\",\"sts_endpoint\":\"$url\"}"

hyperfine -N --warmup 3 --min-runs 30 --export-json "$work/aws.json" \
    -n "sops set (one value)" "sops set $work/sops.yaml '[\"OTHER\"]' '\"v\"'" \
    -n "warm: gsec plugin call random create" "$bin plugin call random create" \
    -n "warm: gsec plugin call aws revoke (2 signed requests)" \
        "$bin plugin call aws revoke --env production --config '$jcfg' --input AWS_ADMIN --id AKIAGONE0000000000000" \
    -n "gsec rotate (aws plugin, full rotation)" "$bin rotate AWS_CREDENTIALS --env production"

#!/usr/bin/env bash
# Vault benchmark: `gsec get` and full-file decryption of a 200-secret file,
# side by side with `sops decrypt` on the same file (hyperfine).
# Target (issue 2): gsec at least 5x faster than sops for both.
#   usage: benches/vault.sh [RUNS]
set -euo pipefail
. "$(dirname "$0")/common.sh"
RUNS=${1:-50}
need hyperfine sops git python3
gsec_release
scratch_project
# 200 secrets of realistic sizes, written in one import.
import_200_secrets production
F=secrets/production.yaml
echo "file: $(grep -c ENC\\[ $F) encrypted values, $(wc -c < $F) bytes"
echo
echo "== one value =="
hyperfine -N --warmup 5 --runs "$RUNS" \
  -n "gsec get" "$GSEC get SECRET_150 --env production" \
  -n "sops decrypt --extract" "sops decrypt --extract '[\"SECRET_150\"]' $F" \
  --export-json "$work/get.json" | sed -n '/Summary/,$p'
echo
echo "== whole file =="
hyperfine -N --warmup 5 --runs "$RUNS" \
  -n "gsec export --format yaml" "$GSEC export --env production --format yaml" \
  -n "sops decrypt" "sops decrypt $F" \
  --export-json "$work/all.json" | sed -n '/Summary/,$p'
python3 - "$work/get.json" "$work/all.json" <<'PY'
import json, sys
for f in sys.argv[1:]:
    r = {x["command"]: x["median"] for x in json.load(open(f))["results"]}
    g = [v for k, v in r.items() if k.startswith("gsec")][0]
    s = [v for k, v in r.items() if k.startswith("sops")][0]
    print(f"{list(r)[0]:28s} median {g*1000:7.2f} ms   sops {s*1000:7.2f} ms   ratio sops/gsec = {s/g:5.1f}x")
PY

#!/usr/bin/env bash
# `gsec run` benchmark (issue 3): start-up cost of running a command with an
# environment's secrets, side by side with `sops exec-env` on the same file,
# and the throughput of `--mask` against unmasked output (hyperfine).
#   usage: benches/run.sh [RUNS]        (GSEC_BIN=path to skip the release build)
set -euo pipefail
. "$(dirname "$0")/common.sh"
RUNS=${1:-30}
need hyperfine sops git python3
gsec_release
scratch_project
# 50 secrets of realistic sizes plus one 4 KiB PEM-like multi-line value.
python3 - > secrets.env <<'PY'
import secrets, base64
for i in range(50):
    print(f"SECRET_{i:03d}={secrets.token_urlsafe(24 + (i % 5) * 16)}")
pem = base64.encodebytes(secrets.token_bytes(3000)).decode().replace("\n", "\\n")
print(f'TLS_KEY="-----BEGIN PRIVATE KEY-----\\n{pem}-----END PRIVATE KEY-----"')
PY
"$GSEC" import secrets.env --env development >/dev/null 2>&1
F=secrets/development.yaml
# 64 MiB of log-like output with a secret (or its base64) every ~100 lines.
python3 - "$work/out.log" <<'PY'
import sys, secrets, random, base64
random.seed(1)
vals = [l.split("=", 1)[1] for l in open("secrets.env") if l.startswith("SECRET_")]
with open(sys.argv[1], "w") as f:
    n = 0
    while n < 64 * 1024 * 1024:
        if random.random() < 0.01:
            v = random.choice(vals)
            line = f"auth token={v} b64={base64.b64encode(v.encode()).decode()}\n"
        else:
            line = f"{random.randrange(10**9)} GET /api/v1/items?page={random.randrange(100)} 200 {secrets.token_hex(16)}\n"
        f.write(line)
        n += len(line)
PY
rm secrets.env
echo "file: $(grep -c ENC\\[ $F) encrypted values; output: $(($(wc -c < "$work/out.log") / 1048576)) MiB"
echo
echo "== start-up: run 'true' with the secrets =="
hyperfine -N --warmup 3 --runs "$RUNS" \
  -n "gsec run" "$GSEC run -- true" \
  -n "gsec run --mask" "$GSEC run --mask -- true" \
  -n "sops exec-env" "sops exec-env $F true" \
  --export-json "$work/start.json" | sed -n '/Summary/,$p'
echo
echo "== masking throughput: cat 64 MiB of output =="
hyperfine -N --warmup 1 --runs 5 \
  -n "cat" "cat $work/out.log" \
  -n "gsec run -- cat" "$GSEC run -- cat $work/out.log" \
  -n "gsec run --mask -- cat" "$GSEC run --mask -- cat $work/out.log" \
  --export-json "$work/mask.json" | sed -n '/Summary/,$p'
python3 - "$work/start.json" "$work/mask.json" "$work/out.log" <<'PY'
import json, os, sys
start = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
mask = {x["command"]: x["median"] for x in json.load(open(sys.argv[2]))["results"]}
mib = os.path.getsize(sys.argv[3]) / 1048576
print(f"gsec run: {start['gsec run']*1000:.1f} ms, sops exec-env: {start['sops exec-env']*1000:.1f} ms, ratio sops/gsec = {start['sops exec-env']/start['gsec run']:.1f}x")
print(f"--mask start-up overhead: {(start['gsec run --mask']-start['gsec run'])*1000:.1f} ms")
m = mask["gsec run --mask -- cat"]; u = mask["gsec run -- cat"]
print(f"masked {mib/m:.0f} MiB/s vs unmasked {mib/u:.0f} MiB/s (masked/unmasked time = {m/u:.1f}x)")
PY

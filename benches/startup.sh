#!/usr/bin/env bash
# Scan start-up (issue 14): `gsec scan` of one small file and of a one-file
# staged change, beside `gsec --version` (the floor: process start and
# argument parsing) and beside the peers installed (gitleaks, betterleaks,
# ripsecrets, kingfisher). Target: `gsec scan --no-git FILE` <= 6 ms median,
# i.e. within ~2x of `gsec --version`.
#   usage: benches/startup.sh [RUNS]     (GSEC_BIN=path to skip the release build)
set -euo pipefail
. "$(dirname "$0")/common.sh"
RUNS=${1:-100}
need hyperfine git python3
. "$(dirname "$0")/peers.sh"
gsec_release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
git init -q repo && cd repo
git config user.email b@example.com && git config user.name bench
# A small source file with a few keywords the prefilter reacts to
# (password, token, api_key) and no secret.
cat > app.py <<'PY'
import os

def connect(host: str, port: int = 5432):
    password = os.environ["DB_PASSWORD"]
    token = os.environ.get("API_TOKEN", "")
    api_key = load_api_key()
    return f"postgres://{host}:{port}", password, token, api_key
PY
git add app.py && git commit -qm base
printf '\n# edited\nretries = 3\n' >> app.py && git add app.py

cmds=(-n "gsec --version" "$GSEC --version"
      -n "gsec scan --no-git FILE" "$GSEC scan --no-git --no-managed app.py"
      -n "gsec scan --staged" "$GSEC scan --staged --no-managed")
peers=()
command -v gitleaks >/dev/null && peers+=(-n "gitleaks dir FILE" "gitleaks dir --no-banner --log-level error --exit-code 0 app.py"
  -n "gitleaks git --staged" "gitleaks git --pre-commit --staged --no-banner --log-level error --exit-code 0 .")
command -v betterleaks >/dev/null && peers+=(-n "betterleaks dir FILE" "betterleaks dir --no-banner --log-level error --exit-code 0 app.py")
command -v ripsecrets >/dev/null && peers+=(-n "ripsecrets FILE" "ripsecrets app.py")
command -v kingfisher >/dev/null && peers+=(-n "kingfisher FILE" "kingfisher scan --no-validate --no-update-check --quiet app.py")
hyperfine -N -i -w 5 -r "$RUNS" --export-json "$work/startup.json" "${cmds[@]}" "${peers[@]}" | sed -n '/Summary/,$p'
python3 - "$work/startup.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
v = r["gsec --version"]
for name, t in r.items():
    print(f"{name:28s} median {t*1000:7.2f} ms  ({t/v:4.2f}x gsec --version)")
s = r["gsec scan --no-git FILE"]
print(f"target: scan of one small file <= 6 ms: {'met' if s <= 0.006 else 'NOT met'} ({s*1000:.2f} ms)")
PY

#!/usr/bin/env bash
# History scan (issue 14): `gsec scan --history` beside gitleaks, betterleaks
# and kingfisher (each when installed) on the same repository: wall time
# (hyperfine) and peak memory.
#   usage: benches/history.sh [RUNS]
#   REPO=path   a repository to scan (cloned first, never modified); default
#               the synthetic tokio-sized one benches/scan.sh creates
#   GSEC_BIN=path   measure this binary instead of a fresh release build
set -euo pipefail
. "$(dirname "$0")/common.sh"
RUNS=${1:-5}
need hyperfine git python3
. "$(dirname "$0")/peers.sh"
gsec_release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -n "${REPO:-}" ]; then
  git clone -q --mirror "$REPO" "$work/repo.git"
  git clone -q "$work/repo.git" "$work/repo"
  R=$work/repo
else
  DATA=$root/target/bench-data
  if [ ! -d "$DATA/repo/.git" ]; then
    echo "== creating the synthetic repository (once; benches/scan.sh shares it)"
    REG=$(ls -d "$HOME"/.cargo/registry/src/*/ | head -1)
    mkdir -p "$DATA"
    git init -q -b main "$DATA/repo"
    python3 "$root/benches/scan_data.py" "$REG" 800 4600 | git -C "$DATA/repo" fast-import --quiet
    git -C "$DATA/repo" -c gc.auto=0 checkout -q -f main
    git -C "$DATA/repo" repack -adq
  fi
  R=$DATA/repo
fi
cd "$R"
echo "repo: $(git rev-list --all --count) commits, $(du -sh .git | cut -f1) .git, $(nproc) cores"
cmds=(-n "gsec" "$GSEC scan --history --no-managed --format json")
# A peer is timed only if a trial run scans (a tool that cannot read this
# repository fails fast and would look fastest).
peer() {
  command -v "${2%% *}" >/dev/null || return 0
  bash -c "$2" >/dev/null 2>"$work/err" || true
  if grep -qi 'err\|fail' "$work/err"; then
    echo "($1 left out: $(head -c 200 "$work/err"))"
  else
    cmds+=(-n "$1" "$2")
  fi
}
peer gitleaks "gitleaks git --no-banner --log-level error --exit-code 0 ."
peer betterleaks "betterleaks git --no-banner --log-level error --exit-code 0 ."
peer kingfisher "kingfisher scan --no-validate --no-update-check --quiet --git-history full ."
hyperfine -i -w 1 -r "$RUNS" --output=null --export-json "$work/history.json" "${cmds[@]}" | sed -n '/Summary/,$p'
echo "== peak memory (max RSS)"
rss() { /usr/bin/time -v bash -c "$1" 2>&1 >/dev/null | awk '/Maximum resident/ {printf "%.0f MB", $6/1024}'; }
for ((i = 1; i < ${#cmds[@]}; i += 3)); do
  printf '%-12s %s\n' "${cmds[i]}" "$(rss "${cmds[i+1]}")"
done
python3 - "$work/history.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
g = r.pop("gsec")
print(f"gsec {g*1000:.0f} ms" + "".join(f"; {k} {t*1000:.0f} ms (gsec/{k} = {g/t:.2f})" for k, t in r.items()))
PY

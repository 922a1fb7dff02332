#!/usr/bin/env bash
# Leak-scanner benchmark: gsec side by side with gitleaks, kingfisher and
# (when installed) ripsecrets on the same inputs.
#
#   bash benches/scan.sh            # build, create data once, run everything
#   RUNS=5 bash benches/scan.sh     # fewer hyperfine runs
#
# Inputs (created once, cached under target/bench-data/):
#   repo/  a synthetic repository the size of tokio: ~800 files of real Rust
#          source from the local cargo registry, 4,600 commits (scripted with
#          git fast-import by benches/scan_data.py), with a 3-file staged change;
#   dir/   a few hundred MB directory tree (a copy of the cargo registry sources).
# Targets (issue 14, tightening issue 5's): pre-commit median <= 10 ms and
# >= 15x ripsecrets, >= 80x gitleaks; history <= 0.3x gitleaks wall time and
# <= 200 MB peak RSS (benches/history.sh); directory throughput >= 2x
# gitleaks dir.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DATA=$ROOT/target/bench-data
RUNS=${RUNS:-10}
REG=$(ls -d "$HOME"/.cargo/registry/src/*/ | head -1)

need() { command -v "$1" >/dev/null 2>&1; }
for t in hyperfine git python3; do need "$t" || { echo "benchmark needs $t" >&2; exit 2; }; done
. benches/peers.sh

# GSEC_BIN measures a given binary (e.g. target/dist/gsec) instead of a
# fresh release build. (common.sh is not sourced: its `need` exits, while
# this script treats ripsecrets and kingfisher as optional.)
if [ -z "${GSEC_BIN:-}" ]; then
  echo "== building release binary"
  cargo build --release --quiet
  GSEC_BIN=$ROOT/target/release/gsec
fi
GSEC=$(cd "$(dirname "$GSEC_BIN")" && pwd)/$(basename "$GSEC_BIN")

mkdir -p "$DATA"
if [ ! -d "$DATA/repo/.git" ]; then
  echo "== creating synthetic repository (once)"
  rm -rf "$DATA/repo"
  git init -q -b main "$DATA/repo"
  python3 benches/scan_data.py "$REG" 800 4600 | git -C "$DATA/repo" fast-import --quiet
  git -C "$DATA/repo" -c gc.auto=0 checkout -q -f main
  git -C "$DATA/repo" repack -adq
fi
if [ ! -d "$DATA/dir" ]; then
  echo "== copying directory tree (once)"
  cp -r "$REG" "$DATA/dir"
fi

REPO=$DATA/repo
# The staged change: three edited files, one with a fake secret.
git -C "$REPO" reset -q --hard main
mapfile -t FILES < <(git -C "$REPO" ls-files | sed -n '10p;200p;400p')
for f in "${FILES[@]}"; do printf '\n// edited for the benchmark\nfn bench_helper() -> u32 { 42 }\n' >> "$REPO/$f"; done
printf 'const DB_PASSWORD: &str = "Xk9mP2vLq7Rt";\n' >> "$REPO/${FILES[0]}"
git -C "$REPO" add -- "${FILES[@]}"

echo "repo: $(git -C "$REPO" ls-files | wc -l) files, $(git -C "$REPO" rev-list --count main) commits, $(du -sh "$REPO/.git" | cut -f1) .git"
echo "dir:  $(du -sh "$DATA/dir" | cut -f1), $(find "$DATA/dir" -type f | wc -l) files"

have_rip=0; need ripsecrets && have_rip=1
have_kf=0; need kingfisher && have_kf=1
KF="kingfisher scan --no-validate --no-update-check --quiet"
JSON=$DATA/results
mkdir -p "$JSON"

echo; echo "== pre-commit: 3-file staged change"
# Without a shell (-N), run from inside the repository: a few-millisecond
# command is otherwise measured beside the shell's fork, which hyperfine's
# correction for an empty shell does not remove (`cd X && cmd` forks).
cmds=("$GSEC scan --staged --no-managed"
      "gitleaks git --pre-commit --staged --no-banner --log-level error --exit-code 0 .")
need betterleaks && cmds+=("betterleaks git --pre-commit --staged --no-banner --log-level error --exit-code 0 .")
[ $have_kf = 1 ] && cmds+=("$KF --staged .")
[ $have_rip = 1 ] && cmds+=("ripsecrets ${FILES[*]}")
(cd "$REPO" && hyperfine -N -i -w 3 -r "$RUNS" --export-json "$JSON/precommit.json" "${cmds[@]}")

echo; echo "== full history"
cmds=("cd $REPO && $GSEC scan --history --no-managed --format json >/dev/null"
      "cd $REPO && gitleaks git --no-banner --log-level error --exit-code 0 . >/dev/null")
[ $have_kf = 1 ] && cmds+=("cd $REPO && $KF --git-history full . >/dev/null")
hyperfine -i -w 1 -r "$(( RUNS < 5 ? RUNS : 5 ))" --export-json "$JSON/history.json" "${cmds[@]}"

echo; echo "== directory throughput ($(du -sh "$DATA/dir" | cut -f1))"
cmds=("$GSEC scan --no-git --no-managed --format json $DATA/dir >/dev/null"
      "gitleaks dir --no-banner --log-level error --exit-code 0 $DATA/dir >/dev/null")
[ $have_kf = 1 ] && cmds+=("$KF --git-history none $DATA/dir >/dev/null")
[ $have_rip = 1 ] && cmds+=("ripsecrets $DATA/dir >/dev/null")
hyperfine -i -w 1 -r "$(( RUNS < 5 ? RUNS : 5 ))" --export-json "$JSON/dir.json" "${cmds[@]}"

echo; echo "== peak memory (max RSS)"
rss() { /usr/bin/time -v bash -c "$1" 2>&1 >/dev/null | awk '/Maximum resident/ {printf "%.0f MB", $6/1024}'; }
printf '%-28s %s\n' "gsec history" "$(rss "cd $REPO && $GSEC scan --history --no-managed --format json")"
printf '%-28s %s\n' "gitleaks git" "$(rss "cd $REPO && gitleaks git --no-banner --log-level error --exit-code 0 .")"
[ $have_kf = 1 ] && printf '%-28s %s\n' "kingfisher history" "$(rss "cd $REPO && $KF --git-history full .")"
printf '%-28s %s\n' "gsec dir" "$(rss "$GSEC scan --no-git --no-managed --format json $DATA/dir")"
printf '%-28s %s\n' "gitleaks dir" "$(rss "gitleaks dir --no-banner --log-level error --exit-code 0 $DATA/dir")"

echo; echo "== summary (median wall time; ratio = gsec / peer)"
python3 - "$JSON" <<'EOF'
import json, sys, os
d = sys.argv[1]
for name in ("precommit", "history", "dir"):
    r = json.load(open(os.path.join(d, name + ".json")))["results"]
    g = r[0]["median"]
    line = [f"{name:10s} gsec {g*1000:8.1f} ms"]
    for x in r[1:]:
        tool = x["command"].split("&&")[-1].split()[0]
        line.append(f"{tool} {x['median']*1000:8.1f} ms (x{g/x['median']:.2f})")
    print("  ".join(line))
EOF
[ $have_rip = 1 ] || echo "(ripsecrets not installed: \`cargo install ripsecrets\` to include it)"
git -C "$REPO" reset -q --hard main

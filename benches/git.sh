#!/usr/bin/env bash
# Git-native benchmark (issue 12): the merge driver on a 200-secret file,
# `gsec log` and `gsec exposure` on a 5,000-commit history of which 100
# commits touch environment files, and the cost the textconv adds to
# `git log -p`. There is no peer to run side by side for the driver (sops
# has none: `git merge` conflicts); `sops set` on the same file is shown
# as the scale of one sops write.
#   usage: benches/git.sh [RUNS]
set -euo pipefail
. "$(dirname "$0")/common.sh"
RUNS=${1:-30}
need hyperfine git python3 sops
gsec_release
scratch_project
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=b@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=b@example.com

import_200_secrets production
F=secrets/production.yaml
git add -A && git commit -qm base
# Three versions for the driver: base, ours (one value changed), theirs
# (another value changed and one added).
cp "$F" "$work/base.yaml"
echo -n ours-value | "$GSEC" set SECRET_010 --env production 2>/dev/null
cp "$F" "$work/ours.yaml"
cp "$work/base.yaml" "$F"
echo -n theirs-value | "$GSEC" set SECRET_150 --env production 2>/dev/null
echo -n new-value | "$GSEC" set NEW_ONE --env production 2>/dev/null
cp "$F" "$work/theirs.yaml"
git checkout -q -- "$F"

echo "== merge driver, 200-secret file (different keys changed on each side) =="
hyperfine -N --warmup 3 --runs "$RUNS" \
  --prepare "cp $work/ours.yaml $work/result.yaml" \
  -n "gsec merge-driver" "$GSEC merge-driver $work/base.yaml $work/result.yaml $work/theirs.yaml $F" \
  -n "sops set (one write, for scale)" "sops set $work/ours.yaml '[\"SECRET_011\"]' '\"x\"'" \
  --export-json "$work/merge.json" | sed -n '/Summary/,$p'

echo
echo "== history: 5,000 commits, 100 of them touching environment files =="
# The unrelated commits come from git fast-import (49 per round, each on
# top of the branch tip); the 100 secret changes are real gsec writes.
branch=$(git symbolic-ref --short HEAD)
for i in $(seq 1 100); do
  python3 - "$i" "$branch" "$(git rev-parse HEAD)" <<'PY' | git fast-import --quiet
import sys, time
i, branch, tip = int(sys.argv[1]), sys.argv[2], sys.argv[3]
t = int(time.time())
out = []
for j in range(49):
    n = i * 100 + j
    data = f"line {n}\n"
    msg = f"code change {n}"
    out += [f"commit refs/heads/{branch}", f"committer bench <b@example.com> {t} +0000",
            f"data {len(msg)}", msg] + ([f"from {tip}"] if j == 0 else []) + [
            f"M 100644 inline src/file{n % 50}.txt", f"data {len(data)}", data]
print("\n".join(out))
PY
  git reset -q --hard "$branch"
  echo -n "value-$i" | "$GSEC" set "SECRET_$(printf %03d $((i % 200)))" --env production 2>/dev/null
  git commit -qam "rotate $i"
done
echo "commits: $(git rev-list --count HEAD)"
hyperfine -N --warmup 2 --runs 10 \
  -n "gsec log" "$GSEC log --format json" \
  -n "gsec exposure" "$GSEC exposure --format json" \
  -n "git log (walk only)" "git log --format=%H" \
  --export-json "$work/history.json" | sed -n '/Summary/,$p'

echo
echo "== textconv: git log -p of the environment file (100 versions) =="
hyperfine -N --warmup 1 --runs 5 \
  -n "git log -p, textconv" "git log -p -- $F" \
  -n "git log -p, raw" "git -c diff.gsec.textconv= log -p --no-textconv -- $F" \
  --export-json "$work/textconv.json" | sed -n '/Summary/,$p'

python3 - "$work"/merge.json "$work"/history.json "$work"/textconv.json <<'PY'
import json, sys
for f in sys.argv[1:]:
    for r in json.load(open(f))["results"]:
        print(f"{r['command']:34s} median {r['median']*1000:8.2f} ms")
PY

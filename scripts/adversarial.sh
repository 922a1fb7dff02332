#!/usr/bin/env bash
# Issue 11's adversarial run, reproduced against a built gsec binary.
#
#   scripts/adversarial.sh [GSEC_BIN]     (or GSEC_BIN=… scripts/adversarial.sh)
#
# Every numbered item (1–15), the "also" list and the review items of issue
# 11 are replayed in scratch projects (mktemp -d, removed on exit) with a
# private HOME and generated keys, and each case checks that gsec now behaves
# correctly. One line per case:
#
#   ok   <item> <what>
#   FAIL <item> <what>: <why>
#
# then a summary; the exit status is 1 when any case failed. No secret value
# is ever printed (a reason quotes at most one stderr line, with every value
# the case planted replaced by [secret] and control characters by '?').
# No case sleeps on the wall clock to decide anything: processes synchronise
# through FIFOs, and `timeout` only bounds the items about time (7, 8, 11).
#
# Needs: bash, git, python3, coreutils (timeout, base64, sha256sum), flock
# (util-linux), sops (item 1, item 5 and the also-list cross-check sops).
#
# In the comments: PENDING marks a case whose fix was still being written
# when the script was (items 2-scanner, 4, 11, 13, 15); FOUND marks a defect
# found while writing it, of an item's class in a file or command the issue
# did not name (not yet in tests/cli/hardening.rs).
#
# Review items that are not observable through the binary and are covered by
# unit tests instead: plugin HttpRequest/HttpResponse `Debug` (src/plugin/abi.rs)
# and zeroizing plaintext trees on drop.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-${GSEC_BIN:-target/debug/gsec}}
if [ ! -e "$BIN" ] && [ -e "$ROOT/$BIN" ]; then BIN=$ROOT/$BIN; fi
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac

# The binary may be being rebuilt: wait (bounded) until it runs. (Not a
# correctness sleep: no case's verdict depends on it.)
wait_for_bin() {
  local _
  for _ in $(seq 30); do
    "$BIN" --version >/dev/null 2>&1 && return 0
    sleep 2
  done
  return 1
}
bin_id() { stat -Lc '%i %Y %s' "$BIN" 2>/dev/null; }
if ! wait_for_bin; then
  echo "adversarial.sh: $BIN does not run (build it first: cargo build)" >&2
  exit 2
fi
for tool in git python3 timeout base64 sha256sum flock sops; do
  command -v "$tool" >/dev/null || { echo "adversarial.sh: $tool not found on PATH" >&2; exit 2; }
done

# A clean environment: nothing from the caller's gsec/sops/GitHub setup.
for name in $(compgen -e); do
  case $name in
    GSEC_* | SOPS_* | GITHUB_* | RUNNER_*) unset "$name" ;;
  esac
done
unset XDG_CONFIG_HOME XDG_CACHE_HOME XDG_RUNTIME_DIR EDITOR VISUAL GIT_DIR GIT_WORK_TREE
export LC_ALL=C.UTF-8 NO_COLOR=1
export GIT_AUTHOR_NAME=adversary GIT_AUTHOR_EMAIL=adversary@example.com
export GIT_COMMITTER_NAME=adversary GIT_COMMITTER_EMAIL=adversary@example.com
export GIT_CONFIG_NOSYSTEM=1

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/gsec-adversarial.XXXXXX")
: >"$SCRATCH/pids"
cleanup() {
  # Only processes this script started (recorded by pid), never by name.
  local p
  while read -r p; do
    [ -n "$p" ] && kill "$p" 2>/dev/null
  done <"$SCRATCH/pids"
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

PASSED=0
FAILED=0
FAILED_IDS=()

# ------------------------------------------------------------------ helpers
# Inside a case (a subshell): $W is its scratch dir, RC the last exit code,
# $W/out and $W/err the last command's stdout and stderr.

# Remember a value the case planted, so no reason ever shows it.
SECRETS=""
secret() { SECRETS+="$1"$'\n'; }

# A line of text made safe to print: secrets redacted, control characters
# replaced, at most 200 characters.
clean() {
  local s=$1 x
  while IFS= read -r x; do
    [ -n "$x" ] && s=${s//"$x"/[secret]}
  done <<<"$SECRETS"
  printf '%s' "$s" | tr '\000-\037\177' '?' | cut -c1-200
}

# The last non-empty stderr line, cleaned, for a reason.
errline() {
  local l
  l=$(grep -v '^[[:space:]]*$' "$W/err" 2>/dev/null | tail -n 1)
  [ -n "$l" ] && printf '; stderr: %s' "$(clean "$l")"
}

die() {
  printf '%s' "$(clean "$*")" >"$W/why"
  exit 1
}

# g ARGS…: run gsec (stdin as the case's: /dev/null unless redirected).
g() {
  "$BIN" "$@" >"$W/out" 2>"$W/err"
  RC=$?
}
# gin VALUE ARGS…: run gsec with exactly VALUE on stdin.
gin() {
  printf '%s' "$1" >"$W/stdin"
  shift
  "$BIN" "$@" <"$W/stdin" >"$W/out" 2>"$W/err"
  RC=$?
}
# gt SECONDS ARGS…: run gsec bounded in time (RC 124: it timed out).
gt() {
  local t=$1
  shift
  timeout -k 2 "$t" "$BIN" "$@" >"$W/out" 2>"$W/err"
  RC=$?
}
# gtin VALUE SECONDS ARGS…: gt with exactly VALUE on stdin.
gtin() {
  printf '%s' "$1" >"$W/stdin"
  local t=$2
  shift 2
  timeout -k 2 "$t" "$BIN" "$@" <"$W/stdin" >"$W/out" 2>"$W/err"
  RC=$?
}
# gtm SECONDS ARGS…: like gt, also with at most 1 GiB of address space, so an
# unbounded read fails fast instead of eating the machine's memory.
gtm() {
  local t=$1
  shift
  (
    ulimit -v 1048576
    exec timeout -k 2 "$t" "$BIN" "$@"
  ) >"$W/out" 2>"$W/err"
  RC=$?
}

rc_is() { [ "$RC" = "$1" ] || die "$2: exit $RC, expected $1$(errline)"; }
rc_not() { [ "$RC" != "$1" ] || die "$2: exit $RC$(errline)"; }
no_panic() {
  [ "$RC" != 101 ] || die "$1: panicked (exit 101)$(errline)"
  ! grep -q 'panicked' "$W/err" || die "$1: panicked$(errline)"
  [ "$RC" -lt 124 ] || die "$1: killed or timed out (exit $RC)"
}
# has FILE TEXT WHAT: FILE contains TEXT (fixed string).
has() { grep -qF -- "$2" "$1" || die "$3: does not say '$2'$(errline)"; }
# lacks_secret FILE VALUE WHAT: VALUE (a secret) is not in FILE.
lacks_secret() { ! grep -qF -- "$2" "$1" || die "$3: a secret value leaked into the output"; }
# one_line FILE WHAT: FILE holds exactly one non-empty line.
one_line() {
  local n
  n=$(grep -cv '^[[:space:]]*$' "$1")
  [ "$n" = 1 ] || die "$2: $n lines, expected one$(errline)"
}
same() { cmp -s "$1" "$2" || die "$3"; }
both() { cat "$W/out" "$W/err" >"$W/all"; }

# A scratch project: $W/repo (git + gsec init), private HOME, one identity
# ($W/key.txt, recipient in $RECIP), a private plugin cache.
project() {
  mkdir -p "$W/repo" "$W/home"
  export HOME=$W/home GSEC_AGE_KEY_FILE=$W/key.txt GSEC_CACHE_DIR=$W/cache
  "$BIN" keygen -o "$W/key.txt" >"$W/recipient" 2>/dev/null || die "setup: gsec keygen failed"
  RECIP=$(cat "$W/recipient")
  cd "$W/repo" || die "setup: no repo"
  git init -q -b main . || die "setup: git init failed"
  "$BIN" init >/dev/null 2>&1 || die "setup: gsec init failed"
}
# keygen NAME: another identity at $W/NAME.txt; prints its recipient.
keygen() { "$BIN" keygen -o "$W/$1.txt" 2>/dev/null; }
# set_ok NAME ENV VALUE
set_ok() {
  secret "$3"
  gin "$3" set "$1" --env "$2"
  rc_is 0 "setup: gsec set $1 --env $2"
}
commit() { git add -A >/dev/null 2>&1 && git commit -qm "$1" >/dev/null 2>&1 || die "setup: git commit failed"; }

# An executable editor script at $W/NAME running BODY ("$1" is the file).
editor() {
  printf '#!/bin/sh\n%s\n' "$2" >"$W/$1"
  chmod +x "$W/$1"
  printf '%s' "$W/$1"
}

# A fake GitHub classic token with a valid CRC32 checksum (random each run;
# never a real credential).
fake_token() {
  python3 -c '
import random, zlib
B = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
body = "".join(random.choice(B) for _ in range(30))
c = zlib.crc32(body.encode()); s = ""
for _ in range(6):
    s = B[c % 62] + s; c //= 62
print("ghp_" + body + s)'
}

sha16() { printf '%s' "$1" | sha256sum | cut -c1-16; }

# Python text surgery: pyedit FILE CODE (CODE sees `t`, assigns `t`).
pyedit() {
  python3 - "$1" "$2" <<'EOF' || die "setup: editing $1 failed"
import sys
p, code = sys.argv[1], sys.argv[2]
t = open(p, encoding="utf-8").read()
env = {"t": t}
exec(code, env)
open(p, "w", encoding="utf-8").write(env["t"])
EOF
}

# mkwasm INFO_JSON MODE ARG OUT: a minimal plugin module (ABI 1). `info`
# answers INFO_JSON; every other op answers ARG (MODE=fixed) or passes ARG
# to the host's `http` import and returns what it gives back (MODE=http).
mkwasm() {
  python3 - "$@" <<'EOF' || die "setup: building a wasm module failed"
import sys
def uleb(n):
    out = bytearray()
    while True:
        b = n & 0x7f; n >>= 7
        if n: out.append(b | 0x80)
        else: out.append(b); return bytes(out)
def sleb(n):
    out = bytearray()
    while True:
        b = n & 0x7f; n >>= 7
        if (n == 0 and not b & 0x40) or (n == -1 and b & 0x40):
            out.append(b); return bytes(out)
        out.append(b | 0x80)
def vec(items): return uleb(len(items)) + b"".join(items)
def name(s): s = s.encode(); return uleb(len(s)) + s
def sec(i, body): return bytes([i]) + uleb(len(body)) + body
I32, I64 = 0x7f, 0x7e
def ftype(p, r): return b"\x60" + vec([bytes([x]) for x in p]) + vec([bytes([x]) for x in r])
def i32c(n): return b"\x41" + sleb(n)
def i64c(n): return b"\x42" + sleb(n)
def body(locs, code):
    b = vec(locs) + code + b"\x0b"
    return uleb(len(b)) + b
info, mode, arg, out = sys.argv[1].encode(), sys.argv[2], sys.argv[3].encode(), sys.argv[4]
INFO, ARG, HEAP = 16, 2048, 8192
types = vec([ftype([], [I32]), ftype([I32], [I32]), ftype([I32, I32], [I64])])
imports = vec([name("gsec") + name("http") + b"\x00" + uleb(2)])
funcs = vec([uleb(0), uleb(1), uleb(2)])
mem = vec([b"\x00" + uleb(4)])
glob = vec([bytes([I32, 1]) + i32c(HEAP) + b"\x0b"])
exp = vec([name("memory") + b"\x02" + uleb(0), name("gsec_abi_version") + b"\x00" + uleb(1),
           name("gsec_alloc") + b"\x00" + uleb(2), name("gsec_call") + b"\x00" + uleb(3)])
f_abi = body([], i32c(1))
# gsec_alloc: bump allocator (4 pages are plenty here).
f_alloc = body([uleb(1) + bytes([I32])],
               b"\x23\x00\x21\x01" + b"\x23\x00\x20\x00\x6a\x24\x00" + b"\x20\x01")
def answer(ptr, ln): return i64c((ptr << 32) | ln)
# gsec_call: requests start with {"op":" so byte 7 is the op's first letter.
code = b"\x20\x00\x2d\x00\x07" + i32c(105) + b"\x46\x04\x40" + answer(INFO, len(info)) + b"\x0f\x0b"
code += (i32c(ARG) + i32c(len(arg)) + b"\x10\x00") if mode == "http" else answer(ARG, len(arg))
codes = vec([f_abi, f_alloc, body([], code)])
data = vec([b"\x00" + i32c(INFO) + b"\x0b" + uleb(len(info)) + info,
            b"\x00" + i32c(ARG) + b"\x0b" + uleb(len(arg)) + arg])
m = (b"\x00asm\x01\x00\x00\x00" + sec(1, types) + sec(2, imports) + sec(3, funcs) + sec(5, mem)
     + sec(6, glob) + sec(7, exp) + sec(10, codes) + sec(11, data))
open(out, "wb").write(m)
EOF
}

# install_plugin NAME WASM [EXTRA_YAML_LINES]: copy to plugins/NAME.wasm and
# pin it in .gsec.yaml (appending a `plugins:` map when there is none).
install_plugin() {
  mkdir -p plugins
  cp "$2" "plugins/$1.wasm"
  local sha
  sha=$(sha256sum "plugins/$1.wasm" | cut -d' ' -f1)
  grep -q '^plugins:' .gsec.yaml || printf 'plugins:\n' >>.gsec.yaml
  printf '  %s:\n    path: plugins/%s.wasm\n    sha256: %s\n%s' "$1" "$1" "$sha" "${3:-}" >>.gsec.yaml
}

# Run one case: case_ ITEM WHAT FUNCTION
case_() {
  local id=$1 what=$2 fn=$3 dir rc why
  local attempt before
  for attempt in 1 2; do
    wait_for_bin
    before=$(bin_id)
    dir=$(mktemp -d "$SCRATCH/case.XXXXXX")
    (
      W=$dir
      cd "$W" || exit 1
      "$fn"
    ) </dev/null >"$dir/log" 2>&1
    rc=$?
    # The binary was replaced (rebuilt) during a failed case: run it again.
    if [ "$rc" = 0 ] || [ "$(bin_id)" = "$before" ] || [ "$attempt" = 2 ]; then break; fi
    rm -rf "$dir"
  done
  if [ "$rc" = 0 ]; then
    printf 'ok   %s %s\n' "$id" "$what"
    PASSED=$((PASSED + 1))
  else
    if [ -s "$dir/why" ]; then
      why=$(cat "$dir/why")
    else
      why="case aborted (exit $rc): $(tail -n 1 "$dir/log" | tr '\000-\037\177' '?' | cut -c1-200)"
    fi
    printf 'FAIL %s %s: %s\n' "$id" "$what" "$why"
    FAILED=$((FAILED + 1))
    FAILED_IDS+=("$id")
  fi
  rm -rf "$dir"
}

DEV=secrets/development.yaml
PROD=secrets/production.yaml

# ------------------------------------------------------------------ item 1
# A secret named `sops` (set, import, edit) used to exit 0 and leave a file
# neither gsec nor sops could read.
c1_refused() {
  project
  set_ok A development alpha-value
  cp "$DEV" "$W/before"
  secret sops-named-value
  for name in sops SOPS; do
    gin sops-named-value set "$name"
    rc_is 2 "set $name"
    has "$W/err" "cannot be a secret name" "set $name"
    has "$W/err" "metadata" "set $name"
  done
  printf 'B=bravo\nsops=oops\n' >in.env
  g import in.env
  rc_is 2 "import of sops=…"
  has "$W/err" "in.env:2" "import"
  has "$W/err" "metadata" "import"
  local ed
  ed=$(editor ed.sh "printf 'sops: oops\\n' >> \"\$1\"")
  EDITOR=$ed g edit
  rc_is 2 "edit adding sops:"
  has "$W/err" "metadata" "edit"
  same "$DEV" "$W/before" "a refused set/import/edit changed $DEV"
  g get -n A
  rc_is 0 "get A after the refusals"
  [ "$(cat "$W/out")" = alpha-value ] || die "get A returned another value"
}

c1_sops_reads() {
  project
  set_ok A development alpha-value
  gin value set sops
  rc_is 2 "set sops"
  set_ok B development bravo-value
  SOPS_AGE_KEY_FILE=$W/key.txt sops decrypt "$DEV" >"$W/out" 2>"$W/err"
  RC=$?
  rc_is 0 "sops decrypt after the refused write"
  grep -qx 'A: alpha-value' "$W/out" || die "sops decrypt does not show A"
  grep -qx 'B: bravo-value' "$W/out" || die "sops decrypt does not show B"
}

c1_rm_broken() {
  project
  set_ok A development alpha-value
  pyedit "$DEV" 't = "sops: oops\n" + t'
  g rm sops --env development
  rc_is 2 "rm sops on a broken file"
  has "$W/err" "$DEV" "rm sops"
  has "$W/err" "collides with the sops metadata" "rm sops"
}

# ------------------------------------------------------------------ item 2
# Plaintext written to the committed file (unencrypted_suffix,
# encrypted_regex); and the scanner must look at unencrypted values.
c2_suffix_set() {
  project
  secret tok-value-123
  gin tok-value-123 set API_TOKEN_unencrypted
  rc_is 2 "set API_TOKEN_unencrypted"
  has "$W/err" "$DEV" "set API_TOKEN_unencrypted"
  has "$W/err" "unencrypted_suffix" "set API_TOKEN_unencrypted"
  lacks_secret "$W/err" tok-value-123 "set API_TOKEN_unencrypted"
  [ ! -e "$DEV" ] || die "set API_TOKEN_unencrypted wrote $DEV"
}

c2_suffix_import_edit() {
  project
  set_ok A development alpha
  secret tok-value-123
  cp "$DEV" "$W/before"
  printf 'B=bravo\nPUBLIC_unencrypted=tok-value-123\n' >in.env
  g import in.env
  rc_is 2 "import PUBLIC_unencrypted"
  has "$W/err" "unencrypted_suffix" "import"
  local ed
  ed=$(editor ed.sh "printf 'DB:\\n  password_unencrypted: tok-value-123\\n' >> \"\$1\"")
  EDITOR=$ed g edit
  rc_is 2 "edit adding DB.password_unencrypted"
  has "$W/err" "DB.password_unencrypted" "edit"
  lacks_secret "$W/err" tok-value-123 "edit"
  same "$DEV" "$W/before" "a refused import/edit changed $DEV"
  lacks_secret "$DEV" tok-value-123 "$DEV"
}

c2_regex() {
  project
  set_ok data production d
  pyedit "$PROD" 't = t.replace("    unencrypted_suffix: _unencrypted\n", "    encrypted_regex: ^data$\n")'
  grep -q 'encrypted_regex' "$PROD" || die "setup: no encrypted_regex"
  secret tok-value-123
  gin tok-value-123 set PASSWORD --env production
  rc_is 2 "set PASSWORD where encrypted_regex is ^data$"
  has "$W/err" "encrypted_regex" "set PASSWORD"
  has "$W/err" "$PROD" "set PASSWORD"
  lacks_secret "$PROD" tok-value-123 "$PROD"
  set_ok data production d2
  g get -n data --env production
  [ "$RC" = 0 ] && [ "$(cat "$W/out")" = d2 ] || die "a name encrypted_regex covers no longer round-trips$(errline)"
}

# PENDING (lead fixing now): the scanner half of item 2.
c2_scan_hand_edit() {
  project
  set_ok A development alpha-value
  secret hunter2-is-plain
  pyedit "$DEV" 'i = t.index("sops:\n"); t = t[:i] + "LEAKED_unencrypted: hunter2-is-plain\n" + t[i:]'
  g scan
  rc_is 1 "scan of an environment file with a hand-added unencrypted value"
  has "$W/out" "development.yaml" "scan (findings)"
  lacks_secret "$W/out" hunter2-is-plain "scan"
  lacks_secret "$W/err" hunter2-is-plain "scan"
  git add -A
  g scan --staged
  rc_is 1 "scan --staged (the pre-commit hook) of it"
  has "$W/out" "development.yaml" "scan --staged (findings)"
  lacks_secret "$W/out" hunter2-is-plain "scan --staged"
}

# PENDING: the same with a file sops itself wrote (valid MAC), and history.
c2_scan_sops_written() {
  project
  secret hunter2-is-plain
  printf 'A: alpha-value\nLEAKED_unencrypted: hunter2-is-plain\n' >"$W/plain.yaml"
  mkdir -p secrets
  SOPS_AGE_KEY_FILE=$W/key.txt sops encrypt --age "$RECIP" --unencrypted-suffix _unencrypted \
    --input-type yaml --output-type yaml "$W/plain.yaml" >"$DEV" 2>"$W/err" || die "setup: sops encrypt failed"
  g scan
  rc_is 1 "scan of a sops-written file holding an _unencrypted value"
  has "$W/out" "development.yaml" "scan (findings)"
  lacks_secret "$W/out" hunter2-is-plain "scan"
  git add -A
  g scan --staged
  rc_is 1 "scan --staged of it"
  commit leak
  g scan --history
  rc_is 1 "scan --history after it was committed"
  has "$W/out" "development.yaml" "scan --history (findings)"
  lacks_secret "$W/out" hunter2-is-plain "scan --history"
}

# ------------------------------------------------------------------ item 3
# Panic (exit 101) on a multi-byte recipient label.
c3_labels() {
  project
  set_ok A development alpha
  cp "$DEV" "$W/pristine"
  grep -qF "recipient: $RECIP" "$DEV" || die "setup: recipient line not found"
  local label cmd
  for label in 'aéééééééé' 'ééééééééééééééééééééé€' 'ssh-ed25519 AAAA€€€€'; do
    for cmd in check doctor "get A" list updatekeys "action check"; do
      cp "$W/pristine" "$DEV"
      LABEL=$label RECIP=$RECIP pyedit "$DEV" 'import os; t = t.replace("recipient: " + os.environ["RECIP"], "recipient: " + os.environ["LABEL"])'
      # shellcheck disable=SC2086
      g $cmd
      no_panic "$cmd with recipient label '$label'"
    done
  done
}

c3_shortened() {
  project
  set_ok A development alpha
  cp "$DEV" "$W/pristine"
  keygen mallory >/dev/null || die "setup: keygen"
  local label shown
  while IFS='|' read -r label shown; do
    cp "$W/pristine" "$DEV"
    LABEL=$label RECIP=$RECIP pyedit "$DEV" 'import os; t = t.replace("recipient: " + os.environ["RECIP"], "recipient: " + os.environ["LABEL"])'
    GSEC_AGE_KEY_FILE=$W/mallory.txt g get A
    rc_is 2 "a non-recipient's get A with label '$label'"
    has "$W/err" "$shown" "the recipient list for label '$label'"
  done <<'EOF'
aéééééééé|aéééééééé
ééééééééééééééééééééé€|éééééééééé
ssh-ed25519 AAAA€€€€|AAAA€€€€
EOF
}

# ------------------------------------------------------------------ item 4
# PENDING (lead fixing now): scan fingerprints must not be sha256(secret)[:16].
c4_fingerprints() {
  project
  local pw='Summer2024!x' tok h1 h2 f
  tok=$(fake_token)
  secret "$pw"
  secret "$tok"
  h1=$(sha16 "$pw")
  h2=$(sha16 "$tok")
  mkdir -p app
  printf 'password = "%s"\n' "$pw" >app/config.py
  printf 'token = "%s"\n' "$tok" >app/gh.py
  g scan --format json
  rc_is 1 "scan --format json"
  has "$W/out" "generic-secret" "scan --format json (the password finding)"
  has "$W/out" "github-pat-classic" "scan --format json (the token finding)"
  cp "$W/out" "$W/r.json"
  g scan --format sarif -o "$W/r.sarif"
  rc_is 1 "scan --format sarif"
  g scan --format github
  rc_is 1 "scan --format github"
  cp "$W/out" "$W/r.github"
  g scan
  both
  cp "$W/all" "$W/r.human"
  g scan --baseline-write "$W/r.baseline"
  rc_is 0 "scan --baseline-write"
  commit leak
  GITHUB_STEP_SUMMARY=$W/r.summary g action scan --range HEAD --sarif-file "$W/r.action.sarif"
  rc_is 1 "action scan"
  cp "$W/out" "$W/r.action"
  for f in r.json r.sarif r.github r.human r.baseline r.summary r.action.sarif r.action; do
    [ -e "$W/$f" ] || die "no $f written"
    lacks_secret "$W/$f" "$pw" "$f"
    lacks_secret "$W/$f" "$tok" "$f"
    ! grep -qF -- "$h1" "$W/$f" || die "$f holds sha256(password)[:16], which a dictionary recovers"
    ! grep -qF -- "$h2" "$W/$f" || die "$f holds sha256(token)[:16]"
  done
}

# PENDING: the migration path for existing .gsecignore entries.
c4_migrate_help() {
  project
  g scan --help
  has "$W/out" "--migrate-ignores" "gsec scan --help"
}

c4_migrate() {
  project
  local pw='Summer2024!x' tok h1 h2
  tok=$(fake_token)
  secret "$pw"
  secret "$tok"
  h1=$(sha16 "$pw")
  h2=$(sha16 "$tok")
  mkdir -p app
  printf 'password = "%s"\n' "$pw" >app/config.py
  printf 'token = "%s"\n' "$tok" >app/gh.py
  # Entries as gsec wrote them before the fix.
  printf '# accepted\ngeneric-secret:app/config.py:%s\ngithub-pat-classic:app/gh.py:%s\n' "$h1" "$h2" >.gsecignore
  g scan --migrate-ignores
  rc_is 0 "scan --migrate-ignores"
  g scan
  rc_is 0 "scan after the migration (the accepted findings stay accepted)"
  ! grep -qF -- "$h1" .gsecignore || die ".gsecignore still holds sha256(password)[:16] after the migration"
  ! grep -qF -- "$h2" .gsecignore || die ".gsecignore still holds sha256(token)[:16] after the migration"
}

# FOUND: with no key configured (a project from before the fix, until
# `scan --migrate-ignores`; any repository scanned without a .gsec.yaml), the
# fingerprint is an HMAC under a constant published in gsec's source, so a
# reader of the CI log still recovers a short password by guessing: the
# fingerprint must not be computable from public information.
c4_keyless() {
  project
  local pw='Summer2024!x'
  secret "$pw"
  pyedit .gsec.yaml 'import re; t = re.sub(r"(?m)^scan:\n  fingerprint_key: .*\n", "", t)'
  grep -q fingerprint_key .gsec.yaml && die "setup: fingerprint_key still configured"
  mkdir -p app
  printf 'password = "%s"\n' "$pw" >app/config.py
  g scan --format github
  rc_is 1 "scan --format github"
  local guess
  guess=$(python3 -c '
import hashlib, hmac, struct, sys
m = hmac.new(b"gsec fingerprint key: none configured", digestmod=hashlib.sha256)
for p in (b"generic-secret", b"app/config.py", sys.argv[1].encode()):
    m.update(struct.pack(">Q", len(p))); m.update(p)
print(m.hexdigest()[:20])' "$pw")
  # Without a key nothing secret can key the hash; what must hold is that
  # this is never silent: the report itself says so, and --strict fails.
  if grep -qF -- "$guess" "$W/out"; then
    grep -q '^::warning.*fingerprint_key' "$W/out" || die "fingerprints under the public key are published without a warning"
    g scan --strict
    rc_is 2 "scan --strict with public-key fingerprints"
  fi
}

# ------------------------------------------------------------------ item 5
# `gsec edit` left the decrypted temp file on SIGTERM/SIGHUP.
c5_signals() {
  project
  set_ok A development alpha-value
  mkdir -p "$W/run"
  mkfifo "$W/fifo"
  local ed sig num gp ep tmpf
  ed=$(editor wait.sh "printf '%s %s\\n' \"\$\$\" \"\$1\" > '$W/fifo'
exec sleep 20")
  # Opened read-write: never blocks, so a gsec that fails early cannot hang us.
  exec 3<>"$W/fifo"
  for sig in TERM HUP INT QUIT; do
    num=$(kill -l "$sig")
    EDITOR=$ed XDG_RUNTIME_DIR=$W/run "$BIN" edit </dev/null >/dev/null 2>"$W/err" &
    gp=$!
    echo "$gp" >>"$SCRATCH/pids"
    if ! read -r -t 20 ep tmpf <&3; then
      kill "$gp" 2>/dev/null
      die "SIG$sig: the editor never started$(errline)"
    fi
    echo "$ep" >>"$SCRATCH/pids"
    [ -e "$tmpf" ] || die "SIG$sig: the decrypted file is not where the editor was told"
    kill -s "$sig" "$gp"
    wait "$gp"
    RC=$?
    kill "$ep" 2>/dev/null
    [ "$RC" = $((128 + num)) ] || die "SIG$sig: gsec edit exited $RC, expected $((128 + num))"
    [ ! -e "$tmpf" ] || die "SIG$sig: the decrypted temp file was left behind"
    [ -z "$(ls -A "$W/run")" ] || die "SIG$sig: files left in the runtime dir"
  done
  exec 3<&-
}

c5_recovery() {
  project
  set_ok A development alpha-value
  secret typed-by-me
  secret race-other-value
  local ed
  ed=$(editor race.sh "sed -i 's/^A: .*/A: typed-by-me/' \"\$1\"
printf race-other-value | GSEC_AGE_KEY_FILE='$W/key.txt' '$BIN' -C '$W/repo' set B >/dev/null 2>&1")
  EDITOR=$ed g edit
  rc_is 2 "edit that races another writer"
  has "$W/err" "changed by someone else" "edit"
  has "$W/err" ".development.gsec-recovered.yaml" "edit"
  lacks_secret "$W/err" typed-by-me "edit"
  local kept=secrets/.development.gsec-recovered.yaml
  [ -f "$kept" ] || die "no recovery copy"
  grep -q 'ENC\[AES256_GCM' "$kept" || die "the recovery copy is not encrypted"
  lacks_secret "$kept" typed-by-me "the recovery copy"
  SOPS_AGE_KEY_FILE=$W/key.txt sops decrypt "$kept" >"$W/out" 2>"$W/err"
  grep -q 'typed-by-me' "$W/out" || die "sops cannot read the user's edit back from the recovery copy"
}

# ------------------------------------------------------------------ item 6
# Concurrent `recipients add` lost updates.
c6_concurrent() {
  project
  set_ok SEED development seed-value
  local i pids=() keys=()
  for i in 0 1 2 3 4 5 6 7 8 9; do
    keys+=("$(keygen "k$i")") || die "setup: keygen"
  done
  for i in 0 1 2 3 4 5 6 7 8 9; do
    "$BIN" recipients add "${keys[$i]}" >/dev/null 2>"$W/add$i.err" &
    pids+=($!)
  done
  for i in 0 1 2 3 4 5 6 7 8 9; do
    wait "${pids[$i]}" || { cp "$W/add$i.err" "$W/err"; die "recipients add #$i failed$(errline)"; }
  done
  for i in 0 1 2 3 4 5 6 7 8 9; do
    grep -qF "${keys[$i]}" .gsec.yaml || die "key #$i lost from .gsec.yaml"
    grep -qF "${keys[$i]}" "$DEV" || die "key #$i cannot decrypt $DEV"
  done
  g check
  rc_is 0 "check after the concurrent adds"
}

# ------------------------------------------------------------------ item 7
# Quadratic YAML nesting: 160 KB of `[` must be refused within 2 s.
bomb() { python3 -c "import sys; print(sys.argv[1] + sys.argv[2] * (160 * 1024))" "$1" "$2"; }
deep() { # WHAT FILE
  [ "$RC" != 124 ] || die "$1: not refused within 2 s"
  rc_is 2 "$1"
  has "$W/err" "$2" "$1"
  has "$W/err" "nested more than 64 levels" "$1"
  one_line "$W/err" "$1"
}

c7_env_file() {
  project
  set_ok A development alpha
  bomb 'A: ' '[' >"$DEV"
  cp "$DEV" "$W/bomb"
  gt 2 get A
  deep "get A" "$DEV"
  gtin bravo 2 set B
  deep "set B" "$DEV"
  same "$DEV" "$W/bomb" "a refused file was rewritten"
  gt 2 check
  [ "$RC" != 124 ] || die "check: not done within 2 s"
  rc_is 1 "check"
  gt 2 textconv "$DEV"
  [ "$RC" != 124 ] || die "textconv: not done within 2 s"
  no_panic "textconv"
}

c7_local() {
  project
  set_ok A development alpha
  bomb 'A: ' '[' >.gsec.local.yaml
  gt 2 get A --env local
  deep "get A --env local" .gsec.local.yaml
  gt 2 run --env local -- true
  deep "run --env local" .gsec.local.yaml
}

c7_config() {
  project
  cp .gsec.yaml "$W/cfg"
  bomb 'x: ' '{' >>.gsec.yaml
  gt 2 list
  deep "list with a nested .gsec.yaml" .gsec.yaml
  cp "$W/cfg" .gsec.yaml
  python3 -c "print('# ' + 'x' * (1 << 20))" >>.gsec.yaml
  gt 2 list
  rc_is 2 "list with a .gsec.yaml over 1 MiB"
  has "$W/err" ".gsec.yaml" "list"
  has "$W/err" "1 MiB limit" "list"
}

# FOUND: .gsec/state.yaml is committed (rotation times, exposures) and was
# parsed without the depth bound: 81 KB took ~10 s, 160 KB over 20 s.
c7_state() {
  project
  set_ok A development alpha
  mkdir -p .gsec
  bomb 'rotated: ' '[' >.gsec/state.yaml
  gt 2 list
  [ "$RC" != 124 ] || die "list with a nested .gsec/state.yaml: not refused within 2 s"
  rc_is 2 "list with a nested .gsec/state.yaml"
  has "$W/err" "state.yaml" "list"
  gt 2 rotate --due --dry-run
  [ "$RC" != 124 ] || die "rotate --due --dry-run: not refused within 2 s"
}

# ------------------------------------------------------------------ item 8
# Unbounded reads of configured paths (/dev/zero, FIFOs).
c8_templates() {
  project
  mkfifo tpl.fifo
  printf 'templates:\n- /dev/zero\n- tpl.fifo\n' >>.gsec.yaml
  gtm 5 check
  [ "$RC" != 124 ] || die "check with templates /dev/zero and a FIFO: did not finish within 5 s"
  rc_is 1 "check"
  has "$W/out" "/dev/zero" "check"
  has "$W/out" "tpl.fifo" "check"
  has "$W/out" "not a regular file" "check"
}

c8_plugin() {
  project
  cp .gsec.yaml "$W/cfg"
  printf 'plugins:\n  zero:\n    path: /dev/zero\n    sha256: %064d\n' 0 >>.gsec.yaml
  gtm 5 doctor
  rc_is 1 "doctor with plugin path /dev/zero"
  has "$W/out" "plugin zero" "doctor"
  has "$W/out" "not a regular file" "doctor"
  gtm 5 plugin list --format json
  rc_is 1 "plugin list with plugin path /dev/zero"
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r[0]["pin"]=="missing" else 1)' "$W/out" 2>/dev/null ||
    die "plugin list: pin is not 'missing'"
}

# bounded WHAT: finished in time, did not run out of memory, did not crash.
bounded() {
  [ "$RC" != 124 ] || die "$1: did not finish within 5 s"
  ! cat "$W/out" "$W/err" | grep -qi 'out of memory\|memory allocation' || die "$1: read without a bound (ran out of 1 GiB)"
  no_panic "$1"
}

# FOUND: committed files gsec reads without a bound (a symlink to /dev/zero
# in a pull request): .gsecignore (scan, the hook, `action scan`),
# .gsec/state.yaml (list, rotate), .gitattributes (doctor), and a template
# named on the command line (render).
c8_gsecignore() {
  project
  ln -s /dev/zero .gsecignore
  gtm 5 scan
  bounded "scan with .gsecignore -> /dev/zero"
  git add -A
  gtm 5 scan --staged
  bounded "scan --staged with .gsecignore -> /dev/zero"
}

c8_state() {
  project
  set_ok A development alpha
  mkdir -p .gsec
  ln -s /dev/zero .gsec/state.yaml
  gtm 5 list
  bounded "list with .gsec/state.yaml -> /dev/zero"
  gtm 5 rotate --due --dry-run
  bounded "rotate --due with .gsec/state.yaml -> /dev/zero"
}

c8_gitattributes() {
  project
  rm -f .gitattributes
  ln -s /dev/zero .gitattributes
  gtm 5 doctor
  bounded "doctor with .gitattributes -> /dev/zero"
}

c8_render() {
  project
  set_ok A development alpha
  ln -s /dev/zero app.conf.tmpl
  gtm 5 render app.conf.tmpl
  bounded "render of a template that is a symlink to /dev/zero"
  rc_not 0 "render of a template that is a symlink to /dev/zero"
}

# ------------------------------------------------------------------ item 9
# An environment `file:` outside the repository or inside .git.
c9_paths() {
  project
  cp .gsec.yaml "$W/cfg"
  local file why
  while IFS='|' read -r file why; do
    FILE=$file pyedit .gsec.yaml 'import os; t = t.replace("  development:\n", "  development:\n    file: " + os.environ["FILE"] + "\n", 1)'
    gin alpha set A
    rc_is 2 "set with file: $file"
    has "$W/err" ".gsec.yaml" "set with file: $file"
    has "$W/err" "environments.development.file" "set with file: $file"
    has "$W/err" "$why" "set with file: $file"
    g list
    rc_is 2 "list with file: $file"
    cp "$W/cfg" .gsec.yaml
  done <<'EOF'
../../x.yaml|`..`
.git/hooks/post-checkout|inside .git
sub/.GIT/config|inside .git
/tmp/abs.yaml|absolute
EOF
  [ ! -e "$W/x.yaml" ] || die "../../x.yaml was created"
  [ ! -e .git/hooks/post-checkout ] || die ".git/hooks/post-checkout was created"
}

c9_symlinks() {
  project
  mkdir -p "$W/outside"
  ln -s "$W/outside" secrets
  gin alpha set A
  rc_is 2 "set through secrets -> a directory outside the root"
  has "$W/err" "outside the project root" "set"
  [ -z "$(ls -A "$W/outside")" ] || die "a file was written outside the root"
  rm secrets
  ln -s "$W/repo/.git" secrets
  g get A
  rc_is 2 "get through secrets -> .git"
  has "$W/err" "inside .git" "get"
  [ ! -e .git/development.yaml ] || die "a file was written into .git"
  rm secrets
  mkdir real
  ln -s real secrets
  set_ok A development alpha
  g get -n A
  [ "$RC" = 0 ] && [ "$(cat "$W/out")" = alpha ] || die "a symlink that stays inside no longer works$(errline)"
}

# ------------------------------------------------------------------ item 10
# Duplicate keys accepted, last wins.
c10_duplicates() {
  project
  set_ok A development alpha
  cp .gsec.yaml "$W/cfg"
  local mallory
  mallory=$(keygen mallory) || die "setup: keygen"
  MAL=$mallory pyedit .gsec.yaml 'import os; t = t.replace("recipients:\n", "recipients:\n  team:\n  - " + os.environ["MAL"] + "\n", 1)'
  g updatekeys
  rc_is 2 "updatekeys with a hidden second team:"
  has "$W/err" "duplicate entry with key \"team\"" "updatekeys"
  ! grep -qF "$mallory" "$DEV" || die "updatekeys re-wrapped the data key for the hidden recipient"
  cp "$W/cfg" .gsec.yaml
  secret two-secret
  printf 'A: one\nB: x\nA: two-secret\n' >.gsec.local.yaml
  g get A --env local
  rc_is 2 "get with a duplicate key in .gsec.local.yaml"
  has "$W/err" ".gsec.local.yaml" "get --env local"
  lacks_secret "$W/err" two-secret "get --env local"
  rm .gsec.local.yaml
  cp "$DEV" "$W/dev"
  pyedit "$DEV" 'a = [l for l in t.splitlines() if l.startswith("A: ")][0]; t = a + "\n" + t'
  g get A
  rc_is 2 "get with A twice in $DEV"
  has "$W/err" "duplicate entry with key \"A\"" "get"
  cp "$W/dev" "$DEV"
  pyedit "$DEV" 't = "1: x\n\"1\": y\n" + t'
  g list
  rc_is 2 "list with keys 1 and \"1\""
  has "$W/err" "duplicate key \`1\`" "list"
}

# FOUND: .gsec/state.yaml accepts a duplicated key (last wins), e.g. a
# hidden later rotation time that keeps a secret from ever being due.
c10_state() {
  project
  set_ok A development alpha
  mkdir -p .gsec
  printf 'rotated:\n  development:\n    A: "2020-01-01T00:00:00Z"\n    A: "2099-01-01T00:00:00Z"\n' >.gsec/state.yaml
  g list
  rc_is 2 "list with a duplicate key in .gsec/state.yaml"
  has "$W/err" "state.yaml" "list"
}

# ------------------------------------------------------------------ item 11
# PENDING (lead fixing now): inheritance chains resolved in cubic time.
chain() {
  python3 - "$RECIP" <<'EOF' >.gsec.yaml
import sys
print("version: 1\nrecipients:\n  team:\n  - %s\nenvironments:\n  e0:\n    recipients:\n    - team" % sys.argv[1])
for i in range(1, 4000):
    print("  e%d:\n    inherit: e%d" % (i, i - 1))
EOF
}

c11_check() {
  project
  chain
  gt 5 check
  [ "$RC" != 124 ] || die "check of 4,000 chained environments: not done within 5 s"
  no_panic "check of 4,000 chained environments"
}

c11_list() {
  project
  chain
  gt 5 list
  [ "$RC" != 124 ] || die "list of 4,000 chained environments: not done within 5 s"
  rc_is 0 "list of 4,000 chained environments"
}

# ------------------------------------------------------------------ item 12
# --mask missed base64 that does not start at the value (HTTP Basic).
c12_mask_basic() {
  project
  local token=s3cr3t-t0ken-for-basic u clear n=0 line
  set_ok token development "$token"
  g run --mask -- sh -c 'for u in a ab abc; do printf "%s\n" "$(printf "%s:%s" "$u" "$token" | base64 -w0)"; done'
  rc_is 0 "run --mask"
  [ "$(wc -l <"$W/out")" = 3 ] || die "run --mask: expected 3 lines"
  for u in a ab abc; do
    n=$((n + 1))
    line=$(sed -n "${n}p" "$W/out")
    clear=$(printf '%s:%s' "$u" "$token" | base64 -w0)
    case $line in *'*****'*) ;; *) die "Basic credentials for user '$u' were not masked" ;; esac
    case $line in *"${clear:8:16}"*) die "Basic credentials for user '$u' still hold the token's base64" ;; esac
  done
}

# ------------------------------------------------------------------ item 13
# PENDING (lead fixing now): files starting with NUL or over 5 MB were
# skipped and the commit passed.
c13_nul() {
  project
  local tok
  tok=$(fake_token)
  secret "$tok"
  mkdir -p data
  printf '\0token = "%s"\n' "$tok" >data/nul.bin
  g scan data
  rc_is 1 "scan of a file whose first byte is NUL holding a token"
  both
  has "$W/all" "nul.bin" "scan"
  lacks_secret "$W/all" "$tok" "scan"
}

c13_large() {
  project
  local tok
  tok=$(fake_token)
  secret "$tok"
  mkdir -p data
  python3 -c 'import sys; sys.stdout.write(("a" * 99 + "\n") * 60000 + "token = \"%s\"\n" % sys.argv[1])' "$tok" >data/big.txt
  g scan data
  rc_is 1 "scan of a 6 MB file with a token at its end"
  both
  has "$W/all" "big.txt" "scan"
  lacks_secret "$W/all" "$tok" "scan"
}

c13_staged() {
  project
  local tok
  tok=$(fake_token)
  secret "$tok"
  mkdir -p data
  printf '\0token = "%s"\n' "$tok" >data/nul.bin
  python3 -c 'import sys; sys.stdout.write(("a" * 99 + "\n") * 60000 + "token = \"%s\"\n" % sys.argv[1])' "$tok" >data/big.txt
  git add -A
  g scan --staged
  rc_is 1 "scan --staged (the pre-commit hook) of both files"
  both
  has "$W/all" "nul.bin" "scan --staged"
  has "$W/all" "big.txt" "scan --staged"
}

# ------------------------------------------------------------------ item 14
# Terminal/log injection through key names. sops takes any key, so the
# hostile name comes in a file sops encrypted (gsec opens it and prints its
# names); a hand-edited one gsec refuses, naming the key `…`.
evil_key() {
  printf '"\\e]0;pwned\\a\\e[31mEVIL\\r\\ngsec check passed": x\nA: alpha\n' >"$W/plain.yaml"
  sops encrypt --age "$RECIP" --input-type yaml --output-type yaml "$W/plain.yaml" >"$DEV" \
    || die "setup: sops encrypt failed"
  rm -f "$W/plain.yaml"
}
unescaped() { # FILE WHAT
  [ "$(tr -cd '\033\007\r' <"$1" | wc -c)" = 0 ] || die "$2 printed a raw ESC, BEL or CR from a key name"
  ! grep -q '^gsec check passed' "$1" || die "$2 let a key name forge a line"
}
escaped() { # FILE WHAT
  has "$1" "EVIL" "$2"
  unescaped "$1" "$2"
}

c14_escape() {
  project
  set_ok A development alpha
  evil_key
  g list
  both
  escaped "$W/all" "list"
  has "$W/all" '\u{1b}]0;pwned' "list"
  g check
  both
  unescaped "$W/all" "check"
  # list needs no key: the escaping must not depend on one.
  GSEC_AGE_KEY_FILE=$W/none.txt g list
  both
  escaped "$W/all" "list without a key"
  # Typed into the file by hand (a second time, value in clear): refused,
  # the name not shown.
  pyedit "$DEV" 't = "\"\\e]0;pwned\\a\\e[31mEVIL\\r\\ngsec check passed\": x\n" + t'
  g get A
  rc_is 2 "get A from the file with the hostile key"
  unescaped "$W/err" "get"
  has "$W/err" '…' "get"
  lacks_secret "$W/err" "EVIL" "get"
}

# FOUND: `gsec log` printed key names from history raw.
c14_log() {
  project
  set_ok A development alpha
  commit one
  evil_key
  commit two
  g log
  both
  escaped "$W/all" "log"
}

# ------------------------------------------------------------------ item 15
# PENDING (lead fixing now): the sops MAC does not bind structure.
c15_colon() {
  project
  gin x set 'a:b'
  rc_is 2 "set 'a:b'"
  printf 'a:b=x\n' >in.env
  g import in.env
  rc_is 2 "import of a:b"
  [ ! -e "$DEV" ] || die "a refused a:b wrote $DEV"
}

# PENDING: the other half of the ambiguity: gsec wrote `db: {pass: …}`, and
# the same ciphertext moved to a top-level `"db:pass"` keeps its additional
# data ("db:pass:") and the MAC, so it still verifies (in sops too). The
# ambiguous form must be refused when read, not only when set.
c15_colon_read() {
  project
  set_ok A development alpha-value
  secret nested-val
  local ed
  ed=$(editor ed.sh "printf 'db:\\n  pass: nested-val\\n' >> \"\$1\"")
  EDITOR=$ed g edit
  rc_is 0 "setup: edit adding db.pass"
  pyedit "$DEV" '
import re
m = re.search(r"^db:\n +pass: (ENC\[.*\])\n", t, re.M)
t = t.replace(m.group(0), "\"db:pass\": " + m.group(1) + "\n")'
  grep -q '^"db:pass": ENC' "$DEV" || die "setup: rewrite failed"
  g get 'db:pass'
  rc_not 0 "get 'db:pass' after db: {pass: ENC[…]} became \"db:pass\": ENC[…] (an ambiguous key read as valid)"
  lacks_secret "$W/out" nested-val "get 'db:pass'"
}

c15_structure() {
  project
  set_ok A development alpha-value
  set_ok B development bravo-value
  sed -i "s/^A: \\(ENC.*\\)\$/A: ['\\1']/" "$DEV"
  grep -q "^A: \['ENC" "$DEV" || die "setup: rewrite failed"
  g get A
  rc_not 0 "get A after A: ENC[…] became A: ['ENC[…]'] (a tampered structure read as valid)"
  lacks_secret "$W/out" alpha-value "get A"
  g run -- sh -c 'touch ran'
  rc_not 0 "run with the restructured file"
  [ ! -e ran ] || die "run ran the command with a restructured file"
}

# ------------------------------------------------------------------ also
# Also-list: a corrupt age stanza read "your key X is not among: X".
c_also_corrupt_stanza() {
  project
  set_ok A development alpha
  pyedit "$DEV" '
b = t.index("-----BEGIN AGE ENCRYPTED FILE-----\n")
body = t.index("\n", b) + 1
end = t.index("\n", body)
i = (body + end) // 2
t = t[:i] + ("B" if t[i] == "A" else "A") + t[i + 1:]'
  g get A
  rc_is 2 "get A with a corrupt age stanza"
  has "$W/err" "$DEV" "get A"
  has "$W/err" "corrupt" "get A"
  ! grep -q 'is not among' "$W/err" || die "a corrupt stanza is reported as 'your key is not among'"
}

# Also-list: `type:int` on a non-numeric value was accepted (sops rejects it).
c_also_type_int() {
  project
  # A file sops wrote (no gsec structure MAC): sops does not authenticate a
  # value's type (only the value and its path), so changing type:str to
  # type:int keeps it authentic. Control: a numeric type:int value reads.
  secret not-a-number
  mkdir -p secrets
  printf 'A: alpha\nNUMOK: 12345\nNUMVAL: not-a-number\n' >"$W/plain.yaml"
  SOPS_AGE_KEY_FILE=$W/key.txt sops encrypt --age "$RECIP" --input-type yaml --output-type yaml \
    "$W/plain.yaml" >"$DEV" 2>"$W/err" || die "setup: sops encrypt failed"
  grep -q '^NUMOK: .*type:int' "$DEV" || die "setup: sops did not write NUMOK as type:int"
  g get -n NUMOK
  [ "$RC" = 0 ] && [ "$(cat "$W/out")" = 12345 ] || die "control: a numeric type:int value does not read$(errline)"
  sed -i '/^NUMVAL: /s/type:str\]/type:int]/' "$DEV"
  grep -q '^NUMVAL: .*type:int' "$DEV" || die "setup: type rewrite failed"
  g get NUMVAL
  rc_is 2 "get of a non-numeric value marked type:int"
  has "$W/err" "type:int" "get"
  lacks_secret "$W/err" not-a-number "get"
  SOPS_AGE_KEY_FILE=$W/key.txt sops decrypt "$DEV" >/dev/null 2>&1 && die "cross-check: sops accepts it"
  # The same edit in a file gsec wrote is refused too (whatever check
  # catches it first: the structure MAC, or the type).
  rm -f "$DEV"
  set_ok NUMVAL development not-a-number
  sed -i '/^NUMVAL: /s/type:str\]/type:int]/' "$DEV"
  g get NUMVAL
  rc_is 2 "get of a type:int non-numeric value in a file gsec wrote"
  lacks_secret "$W/out" not-a-number "get"
  lacks_secret "$W/err" not-a-number "get"
}

# Also-list: a corrupted compiled-plugin cache entry trapped on every run
# instead of being recompiled; an entry must match the digest beside it.
c_also_cache() {
  project
  mkwasm '{"name":"fixed","version":"1.0.0","abi":1,"hosts":[]}' fixed \
    '{"value":"made-by-fixed-1234","id":"f-1"}' "$W/fixed.wasm"
  install_plugin fixed "$W/fixed.wasm"
  g plugin call fixed create
  rc_is 0 "plugin call (first, compiles)"
  local dir=$W/cache/plugins entry sha
  sha=$(sha256sum "$W/fixed.wasm" | cut -d' ' -f1)
  entry=$(ls "$dir"/*.cwasm 2>/dev/null)
  [ "$(printf '%s\n' "$entry" | grep -c .)" = 1 ] || die "expected one cache entry"
  case $(basename "$entry") in "$sha"*) ;; *) die "the cache entry is not named by the wasm's sha256" ;; esac
  [ "$(stat -c %a "$dir")" = 700 ] || die "the cache directory is not 0700"
  printf 'not a compiled module' >"$entry"
  g plugin call fixed create
  rc_is 0 "plugin call with garbage in the cache"
  [ "$(stat -c %s "$entry")" -gt 1000 ] || die "a garbage cache entry was not rewritten"
  cp "$entry" "$W/good"
  python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=0xff; open(p,"wb").write(b)' "$entry"
  cp "$entry" "$W/bad"
  g plugin call fixed create
  rc_is 0 "plugin call with a bit flipped in the cache entry"
  ! cmp -s "$entry" "$W/bad" || die "a corrupt cache entry was kept"
  rm -f "${entry}.sha256"
  cp "$W/bad" "$entry"
  g plugin call fixed create
  rc_is 0 "plugin call with an entry that has no digest"
  [ -e "${entry}.sha256" ] || die "an entry without its digest was mapped instead of recompiled"
}

# ------------------------------------------------------------------ review
# A plugin's malformed HTTP request was reported with serde's message, which
# quotes the input, and stored in the rotation journal.
c_review_redaction() {
  project
  local tok
  tok=$(fake_token)
  secret "$tok"
  mkwasm '{"name":"badreq","version":"1.0.0","abi":1,"hosts":["*"]}' http \
    "{\"method\":\"GET\",\"url\":\"http://127.0.0.1:9/x\",\"headers\":\"Bearer $tok\"}" "$W/badreq.wasm"
  install_plugin badreq "$W/badreq.wasm" '    hosts: ["http://127.0.0.1:9"]
'
  printf 'secrets:\n  DB_PASSWORD:\n    rotation: {plugin: badreq}\n' >>.gsec.yaml
  set_ok DB_PASSWORD production old-password
  g plugin call badreq verify
  rc_is 2 "plugin call with a malformed HTTP request"
  both
  lacks_secret "$W/all" "$tok" "plugin call"
  g rotate DB_PASSWORD --env production
  rc_is 2 "rotate with a malformed HTTP request"
  both
  lacks_secret "$W/all" "$tok" "rotate"
  lacks_secret "$W/all" old-password "rotate"
  g rotate --resume --dry-run
  rc_is 0 "rotate --resume --dry-run"
  has "$W/out" "would resume DB_PASSWORD" "rotate --resume --dry-run"
  both
  lacks_secret "$W/all" "$tok" "rotate --resume --dry-run (the journal's last error)"
  g rotate DB_PASSWORD --env production --format json
  both
  lacks_secret "$W/all" "$tok" "rotate --format json"
}

# fsutil::lock had no timeout.
c_review_lock() {
  project
  set_ok A development alpha-value
  mkfifo "$W/fifo"
  exec 3<>"$W/fifo"
  flock secrets/.development.yaml.lock sh -c "echo \$\$ > '$W/fifo'; exec sleep 20" &
  local fp=$! hp
  echo "$fp" >>"$SCRATCH/pids"
  read -r -t 20 hp <&3 || die "setup: flock never took the lock"
  echo "$hp" >>"$SCRATCH/pids"
  secret lock-new-value
  printf 'lock-new-value' >"$W/stdin"
  GSEC_LOCK_TIMEOUT=0.3 timeout 10 "$BIN" set A <"$W/stdin" >"$W/out" 2>"$W/err"
  RC=$?
  kill "$hp" "$fp" 2>/dev/null
  wait "$fp" 2>/dev/null
  exec 3<&-
  [ "$RC" != 124 ] || die "set behind a held lock did not give up"
  rc_is 2 "set behind a held lock"
  has "$W/err" ".development.yaml.lock" "set"
  has "$W/err" "GSEC_LOCK_TIMEOUT" "set"
  g get -n A
  [ "$(cat "$W/out")" = alpha-value ] || die "the value changed although set gave up"
}

# ------------------------------------------------------------------ run
START=$(date +%s)
echo "gsec adversarial run (issue 11) against $BIN"

case_ 1 "set/import/edit of a secret named sops are refused and write nothing" c1_refused
case_ 1 "sops still decrypts the file after a refused write" c1_sops_reads
case_ 1 "rm on a file broken by a 'sops' key names the collision" c1_rm_broken
case_ 2 "set NAME_unencrypted is refused naming unencrypted_suffix" c2_suffix_set
case_ 2 "import and edit of an _unencrypted name are refused" c2_suffix_import_edit
case_ 2 "set of a name encrypted_regex does not cover is refused" c2_regex
case_ 2 "scan and scan --staged flag a hand-added unencrypted value" c2_scan_hand_edit
case_ 2 "scan, --staged and --history flag an _unencrypted value sops wrote" c2_scan_sops_written
case_ 3 "multibyte recipient labels crash no command" c3_labels
case_ 3 "a non-recipient is shown the multibyte label shortened" c3_shortened
case_ 4 "no sha256(secret)[:16] in json, sarif, github, human, baseline, action scan" c4_fingerprints
case_ 4 "without a configured key, public-key fingerprints are never published silently" c4_keyless
case_ 4 "scan --migrate-ignores is offered" c4_migrate_help
case_ 4 "old .gsecignore entries keep working after scan --migrate-ignores" c4_migrate
case_ 5 "edit removes the decrypted file on SIGTERM, SIGHUP, SIGINT, SIGQUIT" c5_signals
case_ 5 "an edit that cannot be applied is kept, encrypted, readable by sops" c5_recovery
case_ 6 "10 concurrent recipients add all land" c6_concurrent
case_ 7 "160 KB nested [ in an environment file is refused within 2 s" c7_env_file
case_ 7 "160 KB nested [ in .gsec.local.yaml is refused within 2 s" c7_local
case_ 7 "nested .gsec.yaml and one over 1 MiB are refused" c7_config
case_ 7 "160 KB nested [ in .gsec/state.yaml is refused within 2 s" c7_state
case_ 8 "templates /dev/zero and a FIFO are reported, never read" c8_templates
case_ 8 "a plugin path /dev/zero: doctor and plugin list refuse it" c8_plugin
case_ 8 ".gsecignore -> /dev/zero: scan stays bounded" c8_gsecignore
case_ 8 ".gsec/state.yaml -> /dev/zero: list and rotate stay bounded" c8_state
case_ 8 ".gitattributes -> /dev/zero: doctor stays bounded" c8_gitattributes
case_ 8 "render of a template symlinked to /dev/zero stays bounded" c8_render
case_ 9 "environment files outside the root, inside .git or absolute are refused" c9_paths
case_ 9 "symlinks leaving the root or into .git are refused, inside ones work" c9_symlinks
case_ 10 "duplicate keys are refused in .gsec.yaml, .gsec.local.yaml, environment files" c10_duplicates
case_ 10 "duplicate keys are refused in .gsec/state.yaml" c10_state
case_ 11 "check of 4,000 chained environments within 5 s" c11_check
case_ 11 "list of 4,000 chained environments within 5 s" c11_list
case_ 12 "--mask hides a token inside HTTP Basic credentials at every alignment" c12_mask_basic
case_ 13 "scan finds a token in a file whose first byte is NUL" c13_nul
case_ 13 "scan finds a token at the end of a 6 MB file" c13_large
case_ 13 "scan --staged finds both" c13_staged
case_ 14 "list, check and get escape control characters in key names" c14_escape
case_ 14 "log escapes control characters in key names from history" c14_log
case_ 15 "a secret name with ':' is refused" c15_colon
case_ 15 "a top-level 'db:pass' moved from db: {pass:} is refused when read" c15_colon_read
case_ 15 "A: ['ENC[…]'] in a file gsec wrote is refused by get and run" c15_structure
case_ also "a corrupt age stanza is called corrupt" c_also_corrupt_stanza
case_ also "type:int on a non-numeric value is refused, as sops does" c_also_type_int
case_ also "a garbage, bit-flipped or undigested plugin cache entry is recompiled" c_also_cache
case_ review "a malformed plugin HTTP request never quotes its token (call, rotate, journal, json)" c_review_redaction
case_ review "a held lock times out naming the lock file" c_review_lock

[ "$FAILED" = 0 ] || echo "failed items: ${FAILED_IDS[*]}"
echo "adversarial: $PASSED passed, $FAILED failed ($(($(date +%s) - START)) s)"
[ "$FAILED" = 0 ]

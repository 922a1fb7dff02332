#!/usr/bin/env bash
# Fuzz every cargo-fuzz target in fuzz/ for SECONDS_PER_TARGET (default 60)
# and fail if any of them finds a crash (a panic or a broken invariant).
#
#   scripts/fuzz.sh            # the short run: about a minute per target
#   scripts/fuzz.sh 3600       # the long run (docs/security.md, "Fuzzing")
#
# Stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the nightly-only
# flags it needs (-Zsanitizer, sancov). cargo-fuzz is installed if missing.
#
# Environment:
#   GSEC_FUZZ_TARGETS   targets to run (space-separated; default: all)
#   GSEC_FUZZ_BUILD     extra cargo-fuzz build flags, e.g. "--sanitizer none"
#                       (faster to build and run; the default is ASan)
#   GSEC_FUZZ_JOBS      parallel fuzzing processes per target (default 1)
#   GSEC_FUZZ_PARALLEL  targets fuzzed at once (default: the number of cores)
#   GSEC_FUZZ_IGNORE    |-separated parts of failure messages to ignore, to
#                       explore past a known finding until it is fixed (never
#                       in CI)
#
# New inputs go to fuzz/target/corpus/<target> (not committed); the seeds in
# fuzz/corpus/<target> are read, never written. A crash leaves its input in
# fuzz/artifacts/<target>/; reproduce it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-60}"
case "$secs" in '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2 ;; esac

export RUSTC_BOOTSTRAP=1
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

read -r -a build_flags <<<"${GSEC_FUZZ_BUILD:-}"
jobs="${GSEC_FUZZ_JOBS:-1}"

cargo fuzz build "${build_flags[@]}"

if [ -n "${GSEC_FUZZ_TARGETS:-}" ]; then
    read -r -a targets <<<"$GSEC_FUZZ_TARGETS"
else
    mapfile -t targets < <(cargo fuzz list)
fi

# Targets run side by side, as many at once as there are cores
# (GSEC_FUZZ_PARALLEL), each with its own log; a failing target's log is
# printed at the end.
parallel="${GSEC_FUZZ_PARALLEL:-$(nproc 2>/dev/null || echo 1)}"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
run_one() {
    local t=$1 work="fuzz/target/corpus/$1"
    mkdir -p "$work" "fuzz/corpus/$t"
    local args=(-max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1)
    if [ -f "fuzz/dicts/$t.dict" ]; then
        args+=(-dict="fuzz/dicts/$t.dict")
    fi
    if [ "$jobs" -gt 1 ]; then
        args+=(-fork="$jobs")
    fi
    cargo fuzz run "${build_flags[@]}" "$t" "$work" "fuzz/corpus/$t" -- "${args[@]}" >"$logs/$t.log" 2>&1
}
failed=()
running=()
wait_one() {
    local t=${running[0]}
    running=("${running[@]:1}")
    if wait "${pids[$t]}"; then
        echo "== fuzz: $t: no crash ($(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$logs/$t.log" || echo 'runs unknown'))"
    else
        failed+=("$t")
        echo "== fuzz: $t: FAILED" >&2
        tail -n 60 "$logs/$t.log" >&2
    fi
}
declare -A pids
for t in "${targets[@]}"; do
    if [ "${#running[@]}" -ge "$parallel" ]; then
        wait_one
    fi
    echo "== fuzz: $t for ${secs}s"
    run_one "$t" &
    pids[$t]=$!
    running+=("$t")
done
while [ "${#running[@]}" -gt 0 ]; do
    wait_one
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} target(s), ${secs}s each, no crash"

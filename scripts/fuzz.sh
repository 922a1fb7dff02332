#!/usr/bin/env bash
# Fuzz every target in fuzz/ for SECONDS_PER_TARGET (default 60) and fail
# if any of them finds a crash (a panic or a broken invariant).
#
#   scripts/fuzz.sh            # the short run: about a minute per target
#   scripts/fuzz.sh 3600       # a long run (docs/security.md, "Fuzzing")
#   GSEC_FUZZ_ASAN=1 scripts/fuzz.sh 3600   # the same under AddressSanitizer
#
# Two builds, one set of targets (libFuzzer through libfuzzer-sys):
# - default: coverage instrumentation (sancov) on gsec, the fuzz crate and
#   the YAML parser only (scripts/fuzz-rustc.sh), in the dev profile of the
#   workspace, so every other dependency is the one `cargo test` compiled:
#   a couple of minutes after the test suite instead of a 15–27-minute
#   instrumented build of wasmtime and gix. The run in the test command.
# - GSEC_FUZZ_ASAN=1: cargo-fuzz's build (every crate instrumented,
#   AddressSanitizer, release; RUSTC_BOOTSTRAP=1 on the stable toolchain
#   for -Zsanitizer); cargo-fuzz is installed if missing.
#
# Environment:
#   GSEC_FUZZ_TARGETS   targets to run (space-separated; default: all)
#   GSEC_FUZZ_ASAN      1: the cargo-fuzz/AddressSanitizer build
#   GSEC_FUZZ_JOBS      parallel fuzzing processes per target (default 1)
#   GSEC_FUZZ_PARALLEL  targets fuzzed at once (default: the number of cores)
#   GSEC_FUZZ_SEED      libFuzzer's random seed (default: a new one each run);
#                       the test command fixes it, so that what CI runs is
#                       what a developer reruns, and a red CI is reproducible
#   GSEC_FUZZ_IGNORE    |-separated parts of failure messages to ignore, to
#                       explore past a known finding until it is fixed (never
#                       in CI)
#
# New inputs go to fuzz/target/corpus/<target> (not committed); the seeds in
# fuzz/corpus/<target> are read, never written. A crash leaves its input in
# fuzz/artifacts/<target>/; replay it with the same binary and the file:
#   target/debug/<target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/.."

# 0 seconds: no fuzzing, every seed in fuzz/corpus/<target> run once (the
# regression run of the test command: deterministic, and it guards every
# finding-* seed).
secs="${1:-60}"
case "$secs" in '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2 ;; esac

jobs="${GSEC_FUZZ_JOBS:-1}"

if [ -n "${GSEC_FUZZ_TARGETS:-}" ]; then
    read -r -a targets <<<"$GSEC_FUZZ_TARGETS"
else
    mapfile -t targets < <(sed -n '/^\[\[bin\]\]/,/^name/s/^name = "\(.*\)"/\1/p' fuzz/Cargo.toml)
fi
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz: no targets found in fuzz/Cargo.toml" >&2; exit 2; }

if [ "${GSEC_FUZZ_ASAN:-0}" = 1 ]; then
    export RUSTC_BOOTSTRAP=1
    if ! command -v cargo-fuzz >/dev/null 2>&1; then
        cargo install cargo-fuzz --locked
    fi
    # Not the release profile's stripping and LTO: a crash needs symbols,
    # and LTO only lengthens the build.
    export CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_LTO=false
    cargo fuzz build
    bin_dir=target/x86_64-unknown-linux-gnu/release
else
    # Coverage instrumentation on gsec, the fuzz crate and the YAML parser
    # (scripts/fuzz-rustc.sh). Their own opt-level makes them units of their
    # own (the test build's artifacts stay as they are) and runs them faster.
    config=()
    for pkg in gsec gsec-fuzz serde_norway unsafe-libyaml-norway; do
        config+=(--config "profile.dev.package.$pkg.opt-level=3")
    done
    RUSTC_WRAPPER="$PWD/scripts/fuzz-rustc.sh" cargo build --locked -p gsec-fuzz --bins "${config[@]}"
    bin_dir=target/debug
fi

# Targets run side by side, as many at once as there are cores
# (GSEC_FUZZ_PARALLEL), each with its own log; a failing target's log is
# printed.
parallel="${GSEC_FUZZ_PARALLEL:-$(nproc 2>/dev/null || echo 1)}"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
run_one() {
    local t=$1 work="fuzz/target/corpus/$1"
    mkdir -p "$work" "fuzz/corpus/$t" "fuzz/artifacts/$t"
    local args=(-timeout=30 -rss_limit_mb=4096 -print_final_stats=1
                -artifact_prefix="fuzz/artifacts/$t/")
    if [ "$secs" = 0 ]; then
        args+=(-runs=0)
    else
        args+=(-max_total_time="$secs")
    fi
    if [ -f "fuzz/dicts/$t.dict" ]; then
        args+=(-dict="fuzz/dicts/$t.dict")
    fi
    if [ "$jobs" -gt 1 ]; then
        args+=(-fork="$jobs")
    fi
    if [ -n "${GSEC_FUZZ_SEED:-}" ]; then
        args+=(-seed="$GSEC_FUZZ_SEED")
    fi
    "$bin_dir/$t" "${args[@]}" "$work" "fuzz/corpus/$t" >"$logs/$t.log" 2>&1
}
failed=()
running=()
declare -A pids
wait_one() {
    local t=${running[0]}
    running=("${running[@]:1}")
    if wait "${pids[$t]}"; then
        echo "== fuzz: $t: no crash ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | tr -s ' ' || echo 'runs unknown'))"
    else
        failed+=("$t")
        echo "== fuzz: $t: FAILED" >&2
        tail -n 60 "$logs/$t.log" >&2
    fi
}
for t in "${targets[@]}"; do
    if [ "${#running[@]}" -ge "$parallel" ]; then
        wait_one
    fi
    if [ "$secs" = 0 ]; then echo "== fuzz: $t: every seed once"; else echo "== fuzz: $t for ${secs}s"; fi
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
if [ "$secs" = 0 ]; then
    echo "fuzz: ${#targets[@]} target(s), every seed, no crash"
else
    echo "fuzz: ${#targets[@]} target(s), ${secs}s each, no crash"
fi

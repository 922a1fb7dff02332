#!/bin/sh
# RUSTC_WRAPPER of scripts/fuzz.sh's default build: libFuzzer's coverage
# instrumentation (sancov, the flags cargo-fuzz passes) on the crates the
# fuzz targets are about, and on nothing else, so that every other
# dependency is the one `cargo test` already compiled. All flags are stable
# rustc options. fuzz.sh also gives these crates a profile setting of their
# own, so cargo keeps their instrumented builds apart from the test build's.
rustc=$1
shift
case " $* " in
*" --crate-name gsec "* | *" --crate-name gsec_fuzz "* | *" --crate-name serde_norway "* | *" --crate-name unsafe_libyaml_norway "*)
    exec "$rustc" "$@" -Cpasses=sancov-module \
        -Cllvm-args=-sanitizer-coverage-level=4 \
        -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
        -Cllvm-args=-sanitizer-coverage-pc-table \
        -Cllvm-args=-sanitizer-coverage-trace-compares \
        --cfg fuzzing
    ;;
esac
exec "$rustc" "$@"

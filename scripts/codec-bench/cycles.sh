#!/usr/bin/env bash
# Companion to run.sh for busy machines: compares user-mode CPU cycles per
# decode pass (perf stat cycles:u), which time-slicing does not inflate the
# way wall or CPU time can. For each chunk dump, both harnesses run with 1
# and with 5 passes; (cycles(5) - cycles(1)) / 4 is one pass. Best of ROUNDS.
#
#   scripts/codec-bench/cycles.sh DUMP.chunks...
#
# Env: CODEC_BENCH_DIR (where run.sh put wimlib_codec_bench), ROUNDS
# (default 3), CODEC_BENCH_CPU (default 0). Run run.sh first: it builds both
# harnesses and writes the dumps (CODEC_BENCH_DIR/*.chunks).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${CODEC_BENCH_DIR:-/tmp/wimforge-codec-bench}
target=${CARGO_TARGET_DIR:-$root/target}
ours=$target/release/examples/codec_bench
theirs=$work/wimlib_codec_bench
rounds=${ROUNDS:-3}
cpu=${CODEC_BENCH_CPU:-0}

cyc() {
    perf stat -x, -e cycles:u taskset -c "$cpu" "$@" 2>&1 >/dev/null | grep cycles | cut -d, -f1
}

printf '%-32s %14s %14s %7s\n' dump ours_cycles wimlib_cycles ratio
for d in "$@"; do
    bo=
    bt=
    for _ in $(seq "$rounds"); do
        o=$(( ($(cyc "$ours" run "$d" 5) - $(cyc "$ours" run "$d" 1)) / 4 ))
        t=$(( ($(cyc "$theirs" "$d" 5) - $(cyc "$theirs" "$d" 1)) / 4 ))
        if [ -z "$bo" ] || [ "$o" -lt "$bo" ]; then bo=$o; fi
        if [ -z "$bt" ] || [ "$t" -lt "$bt" ]; then bt=$t; fi
    done
    # ratio > 1: ours needs fewer cycles (is faster) than wimlib.
    printf '%-32s %14s %14s %7s\n' "$(basename "$d")" "$bo" "$bt" \
        "$(awk -v a="$bt" -v b="$bo" 'BEGIN { printf "%.3f", a / b }')"
done

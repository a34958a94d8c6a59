#!/usr/bin/env bash
# Companion to run.sh for busy machines: compares user-mode CPU cycles and
# retired instructions per decode pass (perf stat cycles:u,instructions:u),
# which time-slicing does not inflate the way wall or CPU time can (the
# instruction count does not depend on load at all; cycles still move with
# cache pressure from other processes). For each chunk dump, both harnesses
# run with 1 and with 5 passes; (count(5) - count(1)) / 4 is one pass. Best
# of ROUNDS for each counter.
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

# "CYCLES INSTRUCTIONS" of one run
cnt() {
    perf stat -x, -e cycles:u,instructions:u taskset -c "$cpu" "$@" 2>&1 >/dev/null |
        awk -F, '/cycles/ { c = $1 } /instructions/ { i = $1 } END { print c, i }'
}
# one pass of "$@" (which takes the pass count last): "CYCLES INSTRUCTIONS"
pass() {
    local c1 i1 c5 i5
    read -r c1 i1 < <(cnt "$@" 1)
    read -r c5 i5 < <(cnt "$@" 5)
    echo $(( (c5 - c1) / 4 )) $(( (i5 - i1) / 4 ))
}
min() { if [ -z "$1" ] || [ "$2" -lt "$1" ]; then echo "$2"; else echo "$1"; fi; }

printf '%-24s %14s %14s %7s %14s %14s %7s\n' dump ours_cycles wimlib_cycles ratio ours_instr wimlib_instr ratio
for d in "$@"; do
    boc= bti= boi= btc=
    for _ in $(seq "$rounds"); do
        read -r oc oi < <(pass "$ours" run "$d")
        read -r tc ti < <(pass "$theirs" "$d")
        boc=$(min "$boc" "$oc"); boi=$(min "$boi" "$oi")
        btc=$(min "$btc" "$tc"); bti=$(min "$bti" "$ti")
    done
    # ratios > 1: ours needs fewer cycles / instructions than wimlib.
    printf '%-24s %14s %14s %7s %14s %14s %7s\n' "$(basename "$d")" "$boc" "$btc" \
        "$(awk -v a="$btc" -v b="$boc" 'BEGIN { printf "%.3f", a / b }')" "$boi" "$bti" \
        "$(awk -v a="$bti" -v b="$boi" 'BEGIN { printf "%.3f", a / b }')"
done

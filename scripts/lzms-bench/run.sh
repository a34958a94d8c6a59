#!/usr/bin/env bash
# LZMS decode throughput, ours vs wimlib, one core.
#
#   scripts/lzms-bench/run.sh [WORKDIR]
#
# Builds (once) a ~120 MiB corpus of real x86/x86-64 binaries from Debian's
# libwine package, captures it with wimlib-imagex as non-solid LZMS (128 KiB
# chunks) and as a solid LZMS resource (64 MiB chunks), verifies every blob
# with our decoder while dumping the compressed chunks, then times both
# decoders over the same chunks (best of 5, pinned to one CPU).
# Needs: wimlib-imagex, libwim-dev (wimlib.h), a C compiler, apt-get download.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-/tmp/lzms-bench}
rounds=${ROUNDS:-5}
cpu=${BENCH_CPU:-0}
mkdir -p "$work"
cd "$work"
if [ ! -d corpus ]; then
    [ -d wine ] || { apt-get download libwine && dpkg-deb -x libwine_*.deb wine; }
    mkdir -p corpus
    total=0
    for f in $(find wine -type f \( -name '*.dll' -o -name '*.exe' -o -name '*.so' \) -size -9M | sort); do
        s=$(stat -c %s "$f"); total=$((total + s))
        [ "$total" -gt 130000000 ] && break
        cp "$f" corpus/
    done
fi
[ -f nonsolid.wim ] || wimlib-imagex capture corpus nonsolid.wim --compress=lzms >/dev/null
[ -f solid.wim ] || wimlib-imagex capture corpus solid.wim --solid >/dev/null
cc -O2 -o wimlib_lzms_bench "$root/scripts/lzms-bench/wimlib_lzms_bench.c" -lwim
(cd "$root" && cargo build --release -q -p wimforge-wim --example lzms_bench)
bench="${CARGO_TARGET_DIR:-$root/target}/release/examples/lzms_bench"
for w in nonsolid solid; do
    "$bench" dump "$w.wim" "$w.dump"
    a=0; b=0; ours=""; theirs=""
    for _ in $(seq "$rounds"); do
        o=$(taskset -c "$cpu" "$bench" bench "$w.dump" 1)
        t=$(taskset -c "$cpu" ./wimlib_lzms_bench "$w.dump" 1)
        om=$(echo "$o" | sed -E 's/.* ([0-9.]+) MB\/s/\1/')
        tm=$(echo "$t" | sed -E 's/.* ([0-9.]+) MB\/s/\1/')
        if [ "$(echo "$om > $a" | bc)" = 1 ]; then a=$om; ours=$o; fi
        if [ "$(echo "$tm > $b" | bc)" = 1 ]; then b=$tm; theirs=$t; fi
    done
    echo "$ours"
    echo "$theirs"
    echo "$w: ours/wimlib = $(echo "scale=3; $a / $b" | bc)"
done

#!/usr/bin/env bash
# Single-core decompression benchmark: our XPRESS/LZX(/LZMS) decoders vs
# wimlib's, on the same chunks, same run, pinned to one CPU.
#
#   scripts/codec-bench/run.sh [CORPUS_MB] [ITERS]
#
# Env: CODEC_BENCH_ROUNDS (alternating rounds, default 5), CODEC_BENCH_DIR (work dir, default /tmp/wimforge-codec-bench; corpus
# and WIMs are reused between runs), CODEC_BENCH_CPU (default 0),
# CODEC_BENCH_CASES (default "xpress:32768 xpress:4096 lzx:32768"; a case is
# COMPRESS:CHUNK_SIZE, e.g. lzms:131072, or solid:CHUNK_SIZE for an LZMS
# solid capture). Needs wimlib-imagex, libwim-dev (wimlib.h, -lwim), gcc,
# cargo, taskset.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
work=${CODEC_BENCH_DIR:-/tmp/wimforge-codec-bench}
mb=${1:-200}
iters=${2:-5}
cpu=${CODEC_BENCH_CPU:-0}
cases=${CODEC_BENCH_CASES:-"xpress:32768 xpress:4096 lzx:32768"}
rounds=${CODEC_BENCH_ROUNDS:-5}
target=${CARGO_TARGET_DIR:-$root/target}
mkdir -p "$work"

echo "== build"
(cd "$root" && cargo build --release --example codec_bench)
ours=$target/release/examples/codec_bench
gcc -O2 -o "$work/wimlib_codec_bench" "$root/scripts/codec-bench/wimlib_codec_bench.c" -lwim
theirs=$work/wimlib_codec_bench

# best_of OLD NEW: per format line, keep the one with the higher mbps.
best_of() {
    if [ -z "$1" ]; then
        printf '%s\n' "$2"
        return
    fi
    while IFS= read -r new; do
        fmt=$(sed -n 's/.*format=\([a-z]*\) .*/\1/p' <<<"$new")
        old=$(grep "format=$fmt " <<<"$1" || true)
        nm=$(sed -n 's/.*mbps=\([0-9.]*\).*/\1/p' <<<"$new")
        om=$(sed -n 's/.*mbps=\([0-9.]*\).*/\1/p' <<<"$old")
        if [ -z "$om" ] || awk -v a="$nm" -v b="$om" 'BEGIN { exit !(a > b) }'; then
            printf '%s\n' "$new"
        else
            printf '%s\n' "$old"
        fi
    done <<<"$2"
}

src=$work/corpus-${mb}M
if [ ! -d "$src" ]; then
    echo "== corpus: ${mb} MB of real binaries from /usr/lib and /usr/bin"
    mkdir -p "$src.tmp"
    limit=$((mb * 1024 * 1024))
    total=0
    i=0
    while IFS= read -r f; do
        [ -r "$f" ] || continue
        sz=$(stat -c %s "$f")
        [ $((total + sz)) -le "$limit" ] || continue
        cp "$f" "$src.tmp/$i-$(basename "$f")"
        total=$((total + sz))
        i=$((i + 1))
        [ "$total" -lt $((limit - 65536)) ] || break
    done < <(find /usr/lib/x86_64-linux-gnu /usr/bin /usr/lib -type f -size +1k 2>/dev/null | sort -u)
    mv "$src.tmp" "$src"
fi
echo "corpus: $(du -sb "$src" | cut -f1) bytes in $(ls "$src" | wc -l) files"

printf '\n%-16s %10s %10s %7s %s\n' case ours_MB/s wimlib_MB/s ratio checksums
for c in $cases; do
    comp=${c%%:*}
    cs=${c#*:}
    wimf=$work/$comp-$cs-${mb}M.wim
    if [ ! -f "$wimf" ]; then
        if [ "$comp" = solid ]; then
            args=(--solid --solid-chunk-size="$cs")
        else
            args=(--compress="$comp" --chunk-size="$cs")
        fi
        wimlib-imagex capture "$src" "$wimf.tmp" "${args[@]}" --no-acls >/dev/null
        mv "$wimf.tmp" "$wimf"
    fi
    dump=$work/$comp-$cs-${mb}M.chunks
    [ -f "$dump" ] || "$ours" dump "$dump" "$wimf" >/dev/null 2>&1 || "$ours" dump "$dump" "$wimf"
    # Same chunks, same CPU, alternating ROUNDS times; keep each side's
    # fastest round (the machines are shared, so single runs are noisy).
    o=""
    t=""
    for _ in $(seq "$rounds"); do
        o=$(best_of "$o" "$(taskset -c "$cpu" "$ours" run "$dump" "$iters")")
        t=$(best_of "$t" "$(taskset -c "$cpu" "$theirs" "$dump" "$iters")")
    done
    while IFS= read -r line; do
        fmt=$(sed -n 's/.*format=\([a-z]*\).*/\1/p' <<<"$line")
        om=$(sed -n 's/.*mbps=\([0-9.]*\).*/\1/p' <<<"$line")
        oc=$(sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p' <<<"$line")
        tl=$(grep "format=$fmt " <<<"$t" || true)
        tm=$(sed -n 's/.*mbps=\([0-9.]*\).*/\1/p' <<<"$tl")
        tc=$(sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p' <<<"$tl")
        if [ -z "$om" ] || [ -z "$tm" ]; then
            printf '%-16s ours: %s | wimlib: %s\n' "$c/$fmt" "$line" "$tl"
            continue
        fi
        ratio=$(awk -v a="$om" -v b="$tm" 'BEGIN { printf "%.2f", a / b }')
        same=$([ "$oc" = "$tc" ] && echo match || echo MISMATCH)
        printf '%-16s %10s %10s %7s %s\n' "$c/$fmt" "$om" "$tm" "$ratio" "$same"
    done <<<"$o"
done

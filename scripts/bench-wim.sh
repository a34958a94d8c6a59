#!/usr/bin/env bash
# Benchmark `wimforge wim verify|extract` against `wimlib-imagex verify|apply`
# on the same WIMs, in the same run, and print ratios (wimlib time / ours).
#
# Corpus: Debian's `libwine` package (~650 MiB of real Windows PE DLLs and
# EXEs), captured by wimlib into LZX, XPRESS and LZMS-solid WIMs — a stand-in
# for NanoServer.wim. Built once under $CORPUS (default ./bench-corpus).
#
# Usage: scripts/bench-wim.sh [RUNS]     (RUNS = repetitions, best is kept)
set -euo pipefail
RUNS=${1:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORPUS=${CORPUS:-$ROOT/bench-corpus}
OUT=${BENCH_OUT:-$CORPUS/out}
need() { command -v "$1" >/dev/null || { echo "missing $1: apt-get install -y $2" >&2; exit 1; }; }
need wimlib-imagex wimtools
need /usr/bin/time time

mkdir -p "$CORPUS"
if [ ! -d "$CORPUS/libwine" ]; then
  (cd "$CORPUS" && apt-get download libwine >/dev/null && dpkg-deb -x libwine_*.deb libwine.tmp && mv libwine.tmp libwine)
fi
for mode in lzx xpress lzms-solid; do
  wim="$CORPUS/$mode.wim"
  [ -f "$wim" ] && continue
  case $mode in
    lzx) args=(--compress=lzx) ;;
    xpress) args=(--compress=xpress) ;;
    lzms-solid) args=(--solid) ;;
  esac
  echo "capturing $wim ..." >&2
  wimlib-imagex capture "$CORPUS/libwine" "$wim.tmp" "${args[@]}" >/dev/null
  mv "$wim.tmp" "$wim"
done

if [ -z "${WIMFORGE:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p wimforge)
  WF="${CARGO_TARGET_DIR:-$ROOT/target}/release/wimforge"
else
  WF=$WIMFORGE   # a prebuilt binary
fi

# best_of CMD...: prints "seconds maxrss_kib" of the fastest run.
best_of() {
  local best="" rss=""
  for _ in $(seq "$RUNS"); do
    rm -rf "$OUT"
    local t
    /usr/bin/time -f "%e %M" -o "$CORPUS/.time" "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; exit 1; }
    t=$(cat "$CORPUS/.time")
    local s=${t% *} m=${t#* }
    if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; rss=$m; fi
  done
  rm -rf "$OUT"
  echo "$best $rss"
}

printf "machine: %s cores, %s\n" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf "corpus: %s (%s files)\n" "$(du -sh "$CORPUS/libwine" | cut -f1)" "$(find "$CORPUS/libwine" -type f | wc -l)"
printf "| WIM | size | operation | wimlib-imagex s | wimforge s | speed-up | wimforge peak RSS | wimlib peak RSS |\n"
printf "|---|---|---|---|---|---|---|---|\n"
for mode in lzx xpress lzms-solid; do
  wim="$CORPUS/$mode.wim"
  size=$(du -h "$wim" | cut -f1)
  read -r tw rw < <(best_of wimlib-imagex verify "$wim")
  read -r to ro < <(best_of "$WF" wim verify --quiet "$wim")
  printf "| %s | %s | verify | %s | %s | %.2fx | %d MiB | %d MiB |\n" "$mode" "$size" "$tw" "$to" "$(awk "BEGIN{print $tw/$to}")" $((ro/1024)) $((rw/1024))
  read -r tw rw < <(best_of wimlib-imagex apply "$wim" 1 "$OUT")
  read -r to ro < <(best_of "$WF" wim extract --quiet "$wim" 1 "$OUT")
  printf "| %s | %s | extract | %s | %s | %.2fx | %d MiB | %d MiB |\n" "$mode" "$size" "$tw" "$to" "$(awk "BEGIN{print $tw/$to}")" $((ro/1024)) $((rw/1024))
done

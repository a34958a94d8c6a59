#!/usr/bin/env bash
# Benchmark `wimforge wim capture` against `wimlib-imagex capture` on the
# same tree, with the same compression and thread count, in the same run
# (alternating which goes first), and print sizes, times and ratios.
#
# Corpus: Debian's `libwine` package (~650 MiB of real Windows PE files),
# unpacked once under $CORPUS (default ./bench-corpus), as bench-wim.sh does.
#
# Usage: scripts/bench-capture.sh [COMPRESS] [RUNS] [THREADS]
#   COMPRESS  lzx (default), xpress, lzms or none; wimforge's lzx:fast and
#             lzx:thorough (lzms:fast, lzms:thorough) are compared against
#             wimlib's lzx:20 and lzx:100 (lzms:20, lzms:100). A "+solid"
#             suffix (lzms+solid, lzms:thorough+solid) adds --solid to both
#             (LZMS solid resources, 64 MiB chunks).
#   RUNS      repetitions (default 3); every run's times are printed, then
#             the best and the range
#   THREADS   --threads for both tools (default 2)
# Env: SRC (tree to capture; default the libwine corpus), WIMFORGE (a
# prebuilt binary), BENCH_OUT (scratch directory; default $CORPUS/out).
set -euo pipefail
COMPRESS=${1:-lzx}
RUNS=${2:-3}
THREADS=${3:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORPUS=${CORPUS:-$ROOT/bench-corpus}
OUT=${BENCH_OUT:-$CORPUS/out}
need() { command -v "$1" >/dev/null || { echo "missing $1: apt-get install -y $2" >&2; exit 1; }; }
need wimlib-imagex wimtools
need /usr/bin/time time

if [ -z "${SRC:-}" ]; then
  mkdir -p "$CORPUS"
  if [ ! -d "$CORPUS/libwine" ]; then
    (cd "$CORPUS" && apt-get download libwine >/dev/null && dpkg-deb -x libwine_*.deb libwine.tmp && mv libwine.tmp libwine)
  fi
  SRC=$CORPUS/libwine
fi
if [ -z "${WIMFORGE:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p wimforge)
  WF="${CARGO_TARGET_DIR:-$ROOT/target}/release/wimforge"
else
  WF=$WIMFORGE
fi
SOLID=()
case $COMPRESS in
  *+solid) COMPRESS=${COMPRESS%+solid}; SOLID=(--solid) ;;
esac
case $COMPRESS in
  lzx:fast) WL=lzx:20 ;;
  lzx:thorough) WL=lzx:100 ;;
  lzms:fast) WL=lzms:20 ;;
  lzms:thorough) WL=lzms:100 ;;
  *) WL=$COMPRESS ;;
esac
mkdir -p "$OUT"
ours=$OUT/capture-wimforge.wim
theirs=$OUT/capture-wimlib.wim
bytes=$(du -sb "$SRC" | cut -f1)
echo "tree: $SRC ($bytes bytes); wimforge --compress $COMPRESS ${SOLID[*]} vs wimlib --compress=$WL ${SOLID[*]}; --threads $THREADS; $RUNS runs"
echo "cpu: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"

# time_it NAME CMD... -> prints "wall user+sys" and leaves the WIM
time_it() {
  /usr/bin/time -o "$OUT/time.txt" -f "%e %U %S" "$@" >/dev/null 2>&1
  awk '{ printf "%.2f %.2f\n", $1, $2 + $3 }' "$OUT/time.txt"
}
run_ours() { rm -f "$ours"; time_it "$WF" -q wim capture "$SRC" "$ours" --compress "$COMPRESS" "${SOLID[@]}" --threads "$THREADS"; }
run_theirs() { rm -f "$theirs"; time_it wimlib-imagex capture "$SRC" "$theirs" --compress="$WL" "${SOLID[@]}" --threads="$THREADS"; }

ow=(); oc=(); tw=(); tc=()
for r in $(seq 1 "$RUNS"); do
  if [ $((r % 2)) -eq 1 ]; then
    read -r a b < <(run_ours); read -r c d < <(run_theirs)
  else
    read -r c d < <(run_theirs); read -r a b < <(run_ours)
  fi
  ow+=("$a"); oc+=("$b"); tw+=("$c"); tc+=("$d")
  printf 'run %d: wimforge %6.2f s wall %7.2f s cpu | wimlib %6.2f s wall %7.2f s cpu | wall ratio %.3f\n' \
    "$r" "$a" "$b" "$c" "$d" "$(awk -v x="$a" -v y="$c" 'BEGIN{print x/y}')"
done
wimlib-imagex verify "$ours" >/dev/null 2>&1 || { echo "wimlib-imagex verify FAILED on our WIM" >&2; exit 1; }
os=$(stat -c %s "$ours"); ts=$(stat -c %s "$theirs")
stats() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{printf "%.2f %.2f\n", v[1], v[NR]}'; }
read -r owmin owmax < <(stats "${ow[@]}")
read -r twmin twmax < <(stats "${tw[@]}")
read -r ocmin ocmax < <(stats "${oc[@]}")
read -r tcmin tcmax < <(stats "${tc[@]}")
echo
printf 'size:  wimforge %d  wimlib %d  ratio %.4f (wimforge/wimlib)\n' "$os" "$ts" "$(awk -v x="$os" -v y="$ts" 'BEGIN{print x/y}')"
printf 'wall:  wimforge %.2f..%.2f s  wimlib %.2f..%.2f s  best-vs-best ratio %.3f\n' "$owmin" "$owmax" "$twmin" "$twmax" "$(awk -v x="$owmin" -v y="$twmin" 'BEGIN{print x/y}')"
printf 'cpu:   wimforge %.2f..%.2f s  wimlib %.2f..%.2f s  best-vs-best ratio %.3f\n' "$ocmin" "$ocmax" "$tcmin" "$tcmax" "$(awk -v x="$ocmin" -v y="$tcmin" 'BEGIN{print x/y}')"
echo "(ratios < 1: wimforge smaller/faster; wimlib-imagex verify passed on our WIM)"

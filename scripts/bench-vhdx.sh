#!/usr/bin/env bash
# Benchmark: `wimforge vhdx convert` vs `qemu-img convert -O vhdx` on a 2 GiB
# raw image whose first half is zeros (a hole) and second half random, in
# the same run. Prints a Markdown table of median wall time (including a
# final sync) and output sizes, then checks both outputs with
# `qemu-img compare`.
#
# Usage: scripts/bench-vhdx.sh [WORKDIR] [ROUNDS]
#   WORKDIR defaults to a temp dir under ${TMPDIR:-/tmp}; ROUNDS to 5.
#   WIMFORGE=path/to/wimforge skips the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${2:-5}
WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/bench-vhdx.XXXXXX")}
mkdir -p "$WORK"
if [[ -z "${WIMFORGE:-}" ]]; then
  cargo build --release -p wimforge >&2
  WIMFORGE="${CARGO_TARGET_DIR:-target}/release/wimforge"
fi
command -v qemu-img >/dev/null || { echo "qemu-img is required (apt install qemu-utils)" >&2; exit 1; }

RAW="$WORK/src.raw"
if [[ ! -f "$RAW" ]]; then
  truncate -s 1G "$RAW"
  head -c 1G /dev/urandom >> "$RAW"
fi
[[ $(stat -c %s "$RAW") -eq 2147483648 ]] || { echo "bad source size" >&2; exit 1; }

now() { date +%s.%N; }
declare -A T C
run() { # name, command...
  local name=$1; shift
  rm -f "$WORK/$name.vhdx"
  sync
  local t0; t0=$(now)
  local TIMEFORMAT='%U %S'
  local cpu; cpu=$( { time "$@" >/dev/null 2>&1; } 2>&1 )
  sync
  local t1; t1=$(now)
  T[$name]+="$(echo "$t1 - $t0" | bc) "
  C[$name]+="$(echo "$cpu" | awk '{print $1 + $2}') "
}
# Warm the page cache once.
cat "$RAW" > /dev/null
for ((i = 0; i < ROUNDS; i++)); do
  run qemu qemu-img convert -f raw -O vhdx "$RAW" "$WORK/qemu.vhdx"
  run wimforge "$WIMFORGE" -q vhdx convert "$RAW" "$WORK/wimforge.vhdx"
  run qemu_fixed qemu-img convert -f raw -O vhdx -o subformat=fixed,block_state_zero=off "$RAW" "$WORK/qemu_fixed.vhdx"
  run wimforge_fixed "$WIMFORGE" -q vhdx convert "$RAW" "$WORK/wimforge_fixed.vhdx" --type fixed
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| tool | type | median wall s incl. sync (${ROUNDS} runs) | all runs s | median CPU s (user+sys) | output bytes | allocated bytes |"
echo "|---|---|---|---|---|---|---|"
for n in qemu wimforge qemu_fixed wimforge_fixed; do
  m=$(echo "${T[$n]}" | median)
  c=$(echo "${C[$n]}" | median)
  all=$(echo "${T[$n]}" | xargs printf '%.2f ')
  tool=${n%%_*}; [[ $tool == qemu ]] && tool=qemu-img
  typ=dynamic; [[ $n == *fixed ]] && typ=fixed
  echo "| $tool | $typ | $(printf %.2f "$m") | $all | $(printf %.2f "$c") | $(stat -c %s "$WORK/$n.vhdx") | $(( $(stat -c %b "$WORK/$n.vhdx") * 512 )) |"
done
for n in qemu wimforge qemu_fixed wimforge_fixed; do
  qemu-img compare -q -f raw -F vhdx "$RAW" "$WORK/$n.vhdx" || { echo "$n.vhdx differs from the source" >&2; exit 1; }
done
echo "all outputs identical to the source (qemu-img compare); work dir: $WORK" >&2

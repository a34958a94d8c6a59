#!/usr/bin/env bash
# Benchmark `wimforge build` against the tool chain it replaces, same run,
# same WIM: `mkntfs` + `wimlib-imagex apply` (NTFS-3G mode) into a raw
# image + `qemu-img convert -O vhdx`. Prints best wall time and its peak RSS
# per tool and the ratio.
#
# Ours does more (GPT with ESP + MSR, FAT32, boot files and BCD, injected
# files): the spec adds the demo's placeholder boot files to the image,
# because the libwine WIM has none.
#
# Corpus: the LZX WIM of Debian's libwine built by scripts/bench-wim.sh
# ($CORPUS/lzx.wim), or any WIM given as $1.
#
# Usage: scripts/bench-build.sh [WIM] [SIZE] [RUNS]
#   WIMFORGE=path/to/wimforge  use a prebuilt binary (else cargo build --release)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORPUS=${CORPUS:-$ROOT/bench-corpus}
WIM=${1:-$CORPUS/lzx.wim}
SIZE=${2:-2G}
RUNS=${3:-3}
need() { command -v "$1" >/dev/null || { echo "missing $1: apt-get install -y $2" >&2; exit 1; }; }
need wimlib-imagex wimtools
need mkntfs ntfs-3g
need qemu-img qemu-utils
need /usr/bin/time time
[ -f "$WIM" ] || { echo "no $WIM: run scripts/bench-wim.sh first to build the corpus" >&2; exit 1; }
WIM=$(readlink -f "$WIM")
if [ -z "${WIMFORGE:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p wimforge)
  WF="${CARGO_TARGET_DIR:-$ROOT/target}/release/wimforge"
else
  WF=$WIMFORGE
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-build.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
DEMO="$ROOT/fixtures/demo"
# Placeholder boot files from the demo image, injected into the libwine tree.
wimlib-imagex extract "$DEMO/demo.wim" 1 /Windows/Boot --dest-dir="$TMP/boot" --no-acls >/dev/null
{
  echo "seed = 1"
  echo "[disk]"
  echo "size = \"$SIZE\""
  echo "layout = \"uefi\""
  echo "[image]"
  echo "wim = \"$WIM\""
  echo "[unattend]"
  echo "computer_name = \"BENCH\""
  (cd "$TMP/boot" && find Boot -type f) | while read -r f; do
    echo "[[files]]"
    echo "source = \"$TMP/boot/$f\""
    echo "dest = 'Windows/$f'"
  done
} > "$TMP/spec.toml"

# best wall time and its peak RSS over RUNS runs of "$1"
measure() {
  local best="" rss=""
  for _ in $(seq "$RUNS"); do
    rm -f "$TMP/img" "$TMP/out.vhdx"
    sync
    /usr/bin/time -f "%e %M" -o "$TMP/t" bash -c "$1" >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
    read -r t m < "$TMP/t"
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; rss=$m; fi
  done
  echo "$best $rss"
}

ours=$(measure "'$WF' -q build '$TMP/spec.toml' -o '$TMP/out.vhdx'")
theirs=$(measure "truncate -s $SIZE '$TMP/img' && mkntfs -Q -F '$TMP/img' >/dev/null 2>&1 && wimlib-imagex apply '$WIM' 1 '$TMP/img' && qemu-img convert -O vhdx '$TMP/img' '$TMP/out.vhdx'")
read -r ot orss <<<"$ours"
read -r tt trss <<<"$theirs"
printf '%-58s %8s s  %8s KiB RSS\n' "wimforge build (GPT, ESP, NTFS, apply, boot, VHDX)" "$ot" "$orss"
printf '%-58s %8s s  %8s KiB RSS\n' "mkntfs + wimlib-imagex apply + qemu-img convert -O vhdx" "$tt" "$trss"
awk "BEGIN{printf \"speedup (tool chain / wimforge): %.2fx\n\", $tt / $ot}"

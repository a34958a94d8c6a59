#!/usr/bin/env bash
# Benchmark `wimforge wim apply` (formats, then applies) into a raw image
# against `mkntfs -Q -F` + `wimlib-imagex apply` (NTFS-3G mode) into an image
# of the same size, same run, same WIM. Prints wall time and peak RSS.
#
# Corpus: the LZX WIM of Debian's libwine built by scripts/bench-wim.sh
# ($CORPUS/lzx.wim), or any WIM given as $1.
#
# Usage: scripts/bench-ntfs.sh [WIM] [SIZE] [RUNS]
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
need ntfsresize ntfs-3g
need /usr/bin/time time
[ -f "$WIM" ] || { echo "no $WIM: run scripts/bench-wim.sh first to build the corpus" >&2; exit 1; }
if [ -z "${WIMFORGE:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p wimforge)
  WF="${CARGO_TARGET_DIR:-$ROOT/target}/release/wimforge"
else
  WF=$WIMFORGE
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-ntfs.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# best wall time and its peak RSS over RUNS runs of "$@"
measure() {
  local best="" rss=""
  for _ in $(seq "$RUNS"); do
    rm -f "$TMP/img"
    /usr/bin/time -f "%e %M" -o "$TMP/t" bash -c "$1" >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
    read -r t m < "$TMP/t"
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; rss=$m; fi
  done
  echo "$best $rss"
}

ours=$(measure "'$WF' -q wim apply '$WIM' 1 '$TMP/img' --size $SIZE")
ntfsresize --info --force --no-action "$TMP/img" >/dev/null 2>&1 || true
theirs=$(measure "truncate -s $SIZE '$TMP/img' && mkntfs -Q -F '$TMP/img' >/dev/null 2>&1 && wimlib-imagex apply '$WIM' 1 '$TMP/img'")
read -r ot orss <<<"$ours"
read -r tt trss <<<"$theirs"
printf '%-44s %8s s  %8s KiB RSS\n' "wimforge wim apply (mkfs included)" "$ot" "$orss"
printf '%-44s %8s s  %8s KiB RSS\n' "mkntfs -Q -F + wimlib-imagex apply" "$tt" "$trss"
awk "BEGIN{printf \"speedup (wimlib / wimforge): %.2fx\n\", $tt / $ot}"

#!/usr/bin/env bash
# The main job: `wimforge build` on the embedded demo spec, then a look
# inside the disk with wimforge's own inspection verbs (the tests check the
# same disk with outside tools: qemu-img, sgdisk, fsck.fat, ntfs-3g, hivex).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p wimforge
WF=${CARGO_TARGET_DIR:-target}/release/wimforge
OUT=${1:-demo.vhdx}

"$WF" build fixtures/demo/nano-container-host.toml -o "$OUT" --json-report "${OUT%.*}.json"
echo
"$WF" vhdx info "$OUT"
"$WF" disk info "$OUT"
"$WF" ntfs ls "$OUT" /Windows/System32 --partition 3
"$WF" ntfs cat "$OUT" /Windows/Panther/Unattend.xml --partition 3
echo "report: ${OUT%.*}.json"

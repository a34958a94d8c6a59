#!/usr/bin/env bash
# The main job, as far as it exists today: exercise every verb that is built
# on a small generated demo image. (`wimforge build SPEC` — the one-command
# Nano Server disk — is the build-pipeline issue and is not written yet.)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wimlib-imagex >/dev/null || {
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wimtools >/dev/null
}
cargo build --release -q -p wimforge
WF=${CARGO_TARGET_DIR:-target}/release/wimforge
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A demo "image": a few directories and files, captured by wimlib as LZX.
mkdir -p "$work/src/Windows/System32" "$work/src/Windows/Panther"
printf 'hello from wimforge\r\n' > "$work/src/Windows/System32/readme.txt"
head -c 3000000 /dev/urandom > "$work/src/Windows/System32/random.bin"
printf '<unattend/>' > "$work/src/Windows/Panther/Unattend.xml"
wimlib-imagex capture "$work/src" "$work/demo.wim" "Demo" --compress=lzx >/dev/null

"$WF" wim info "$work/demo.wim"
"$WF" wim dir "$work/demo.wim" 1
"$WF" wim verify "$work/demo.wim"
"$WF" wim extract "$work/demo.wim" Demo "$work/out"
diff -r "$work/src" "$work/out" && echo "extracted tree identical to the source"

"$WF" vhdx create "$work/disk.vhdx" --size 1G --seed 42
"$WF" vhdx info "$work/disk.vhdx"
"$WF" vhdx check "$work/disk.vhdx"

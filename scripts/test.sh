#!/usr/bin/env bash
# The project's test command: installs every outside validator the tests
# use, then runs formatting, lints and the whole test suite.
# Under CI=true a missing validator or ../shared fixture fails the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(wimtools 7zip libvhdi-utils qemu-utils bzip2 gzip time libhivex-bin libwin-hivex-perl ntfs-3g libfsntfs-utils gdisk fdisk dosfstools mtools cabextract gcab qemu-system-x86 ovmf binutils fuse3 libclang-rt-dev g++)
install_missing() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}
install_missing
# Debian 12's qemu-system-x86 (7.2) breaks a newer qemu-utils (some machine
# images carry 10.0 from backports) and apt removes it: a second pass puts
# Debian's qemu-utils back. Every test works with either qemu-img.
install_missing

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -q -- -D warnings
cargo test --workspace --all-targets
# A brief fuzz run of every target (issue #7): regressions surface in CI.
# Stable toolchain, no cargo-fuzz needed; no sanitizer and opt-level 1 keep
# the cold build short (long campaigns keep AddressSanitizer on: see
# fuzz/README.md). libclang-rt-dev supplies the prebuilt libFuzzer.
FUZZ_JOBS=2 FUZZ_NICE=0 FUZZ_SANITIZER=none FUZZ_OPT_LEVEL=1 bash fuzz/run-all.sh 15

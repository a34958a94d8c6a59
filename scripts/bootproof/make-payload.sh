#!/usr/bin/env bash
# Assembles the boot-proof EFI payload from Debian packages (nothing here is
# a committed binary):
#
#   systemd-boot-efi   linuxx64.efi.stub, the UEFI stub of a unified kernel image
#   linux-image-amd64  the kernel (its vmlinuz is an EFI stub kernel) and the
#                      few modules the checks need (virtio disk, vfat + nls,
#                      qemu_fw_cfg, efivarfs), with their dependencies
#   busybox-static     the shell and tools of the initramfs
#   ntfs-3g            ntfscat / ntfsls, with libntfs-3g89 and libc6
#
# into one PE file, payload.efi = stub + .osrel + .cmdline + .linux + .initrd
# (objcopy from binutils). Its /init is init.sh beside this script: it checks
# the disk it was booted from and prints one verdict line on ttyS0.
#
#   make-payload.sh CACHE_DIR      prints the path of the payload on the last line
#
# The .deb files are fetched with `apt-get download` into CACHE_DIR/debs
# once and unpacked with dpkg-deb; nothing is installed into the machine.
# The payload is rebuilt only when this script, init.sh or the packages
# change. Safe to run concurrently (flock on CACHE_DIR/.lock).
# Needs: apt-get, dpkg-deb, objcopy, objdump, readelf (binutils), gzip, sha256sum.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${1:?usage: make-payload.sh CACHE_DIR}"
mkdir -p "$cache/debs"
cache="$(cd "$cache" && pwd)"

for t in apt-get apt-cache dpkg-deb objcopy objdump readelf gzip sha256sum flock; do
  command -v "$t" >/dev/null || { echo "make-payload: $t is missing" >&2; exit 2; }
done

exec 9>"$cache/.lock"
flock 9

log() { echo "make-payload: $*" >&2; }

# --- 1. the packages --------------------------------------------------------
kernel_pkg() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
kpkg="$(kernel_pkg || true)"
if [ -z "$kpkg" ] && [ "$(id -u)" -eq 0 ]; then
  log "apt has no package lists: apt-get update"
  apt-get update -qq >&2
  kpkg="$(kernel_pkg || true)"
fi
[ -n "$kpkg" ] || { log "cannot resolve linux-image-amd64 (no apt lists?)"; exit 2; }
pkgs=(systemd-boot-efi "$kpkg" busybox-static ntfs-3g libntfs-3g89 libc6)

deb_of() { # newest cached .deb of a package, or nothing
  ls -1 "$cache/debs/$1"_*.deb 2>/dev/null | sort -V | tail -n 1
}
need=()
for p in "${pkgs[@]}"; do
  [ -n "$(deb_of "$p")" ] || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get download ${need[*]}"
  dl="$(mktemp -d "$cache/debs/.dl-XXXXXX")"
  if ! (cd "$dl" && apt-get download -q "${need[@]}" >&2); then
    rm -rf "$dl"
    # Stale package lists name versions the archive no longer has: update
    # them and start over (once).
    if [ "$(id -u)" -eq 0 ] && [ -z "${BOOTPROOF_APT_UPDATED:-}" ]; then
      log "apt-get download failed: apt-get update, then again"
      apt-get update -qq >&2
      BOOTPROOF_APT_UPDATED=1 exec bash "$0" "$cache"
    fi
    log "apt-get download ${need[*]} failed"
    exit 2
  fi
  mv "$dl"/*.deb "$cache/debs/"
  rmdir "$dl"
fi
debs=()
for p in "${pkgs[@]}"; do debs+=("$(deb_of "$p")"); done
# Packages of earlier versions (a newer kernel ABI, security updates) go.
for d in "$cache"/debs/*.deb; do
  case " ${debs[*]} " in *" $d "*) ;; *) rm -f "$d" ;; esac
done

# --- 2. is the cached payload current? --------------------------------------
key="$( (cat "$here/make-payload.sh" "$here/init.sh"; for d in "${debs[@]}"; do basename "$d"; done) |
  sha256sum | cut -c1-16)"
out="$cache/payload-$key.efi"
if [ -s "$out" ]; then
  echo "$out"
  exit 0
fi

work="$(mktemp -d "$cache/.work-XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/initramfs"
mkdir -p "$root"/{bin,lib,lib64,modules,proc,sys,dev,esp,tmp}

# --- 3. unpack ----------------------------------------------------------------
for d in "${debs[@]}"; do
  case "$(basename "$d")" in
    linux-image-*) ;; # large: only the parts we need, below
    *) dpkg-deb -x "$d" "$work/pkgs" ;;
  esac
done
kdeb="${debs[1]}"
# Module paths in the kernel package, by module name (dashes read as '_').
dpkg-deb -c "$kdeb" | awk '{ print $6 }' | grep -E '\.ko(\.xz|\.zst)?$' >"$work/ko-list"
ko_path() {
  awk -v m="$1" '{ n = $0; sub(/.*\//, "", n); sub(/\.ko(\.xz|\.zst)?$/, "", n);
                   gsub(/-/, "_", n); if (n == m) { print; exit } }' "$work/ko-list"
}
mkdir -p "$work/k"
vmlinuz_glob='./boot/vmlinuz-*'
want=(virtio_pci virtio_blk vfat nls_cp437 nls_ascii qemu_fw_cfg efivarfs)
have_list=" "
order=()
# Resolve dependencies from each module's .modinfo; every round unpacks the
# modules it found missing (one pass over the package each).
first=1
todo=("${want[@]}")
while [ ${#todo[@]} -gt 0 ]; do
  paths=()
  for m in "${todo[@]}"; do
    p="$(ko_path "$m")"
    [ -n "$p" ] || { log "module $m is not in $(basename "$kdeb")"; exit 2; }
    paths+=("$p")
  done
  if [ $first -eq 1 ]; then paths+=("$vmlinuz_glob"); first=0; fi
  dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$work/k" --wildcards "${paths[@]}"
  next=()
  for m in "${todo[@]}"; do
    case "$have_list" in *" $m "*) continue ;; esac
    have_list="$have_list$m "
    f="$work/k/$(ko_path "$m")"
    case "$f" in
      *.xz) xz -dc "$f" >"$f.ko"; f="$f.ko" ;;
      *.zst) zstd -qdc "$f" >"$f.ko"; f="$f.ko" ;;
    esac
    objcopy -O binary --only-section=.modinfo "$f" "$work/modinfo"
    deps="$(tr '\0' '\n' <"$work/modinfo" | sed -n 's/^depends=//p' | tr ',' ' ')"
    for d in $deps; do
      case "$have_list" in *" $d "*) ;; *) next+=("$d") ;; esac
    done
    echo "$m $f $deps" >>"$work/modules.tsv"
  done
  todo=()
  for n in "${next[@]+"${next[@]}"}"; do
    case " ${todo[*]+"${todo[*]}"} " in *" $n "*) ;; *) todo+=("$n") ;; esac
  done
done
# Load order: every module after its dependencies (one pass per level).
placed=" "
total=$(wc -l <"$work/modules.tsv")
i=0
while [ $i -lt "$total" ]; do
  before=$i
  while read -r m f deps; do
    case "$placed" in *" $m "*) continue ;; esac
    ready=1
    for d in $deps; do case "$placed" in *" $d "*) ;; *) ready=0 ;; esac; done
    [ $ready -eq 1 ] || continue
    i=$((i + 1))
    cp "$f" "$root/modules/$(printf %02d $i)-$m.ko"
    placed="$placed$m "
  done <"$work/modules.tsv"
  [ $i -gt $before ] || { log "module dependency cycle: $(cat "$work/modules.tsv")"; exit 2; }
done
vmlinuz="$(ls "$work"/k/boot/vmlinuz-* | head -n 1)"

# --- 4. the initramfs -------------------------------------------------------------
cp "$work/pkgs/bin/busybox" "$root/bin/busybox"
cp "$here/init.sh" "$root/init"
chmod 755 "$root/init" "$root/bin/busybox"
for tool in ntfscat ntfsls; do
  src="$(find "$work/pkgs" -name "$tool" -type f | head -n 1)"
  [ -n "$src" ] || { log "$tool is not in the ntfs-3g package"; exit 2; }
  cp "$src" "$root/bin/$tool"
done
# Shared libraries: the NEEDED closure of the two tools, from the packages.
find_lib() { find "$work/pkgs" -name "$1" \( -type f -o -type l \) | head -n 1; }
queue=(ntfscat ntfsls)
seen=" "
while [ ${#queue[@]} -gt 0 ]; do
  f="${queue[0]}"; queue=("${queue[@]:1}")
  case "$f" in ntfscat | ntfsls) path="$root/bin/$f" ;; *) path="$root/lib/$f" ;; esac
  for lib in $(objdump -p "$path" | awk '/NEEDED/ { print $2 }'); do
    case "$seen" in *" $lib "*) continue ;; esac
    seen="$seen$lib "
    src="$(find_lib "$lib")"
    [ -n "$src" ] || { log "$lib (needed by $f) is in none of the packages"; exit 2; }
    cp -L "$src" "$root/lib/$lib"
    queue+=("$lib")
  done
done
interp="$(readelf -l "$root/bin/ntfscat" | sed -n 's/.*program interpreter: \(.*\)]/\1/p')"
case "$interp" in /lib64/ld-linux-x86-64*) ;; *) log "unexpected ELF interpreter: $interp"; exit 2 ;; esac
cp -L "$(find_lib ld-linux-x86-64.so.2)" "$root/lib64/ld-linux-x86-64.so.2"
(cd "$root" && find . -mindepth 1 | sed 's|^\./||' | sort | "$root/bin/busybox" cpio -o -H newc 2>/dev/null) |
  gzip -9n >"$work/initrd.gz"

# --- 5. the unified kernel image -------------------------------------------------
stub="$(find "$work/pkgs" -name linuxx64.efi.stub | head -n 1)"
[ -n "$stub" ] || { log "linuxx64.efi.stub is not in systemd-boot-efi"; exit 2; }
printf 'NAME="wimforge boot proof"\nID=wimforge-bootproof\n' >"$work/osrel"
printf 'console=ttyS0 panic=-1' >"$work/cmdline"
# Each section goes after the previous one, 4 KiB aligned, above the stub.
end=0
while read -r idx _ size vma _; do
  case "$idx" in *[!0-9]* | "") continue ;; esac
  e=$((0x$vma + 0x$size))
  [ $e -le $end ] || end=$e
done < <(objdump -h "$stub")
args=()
next=$(( (end + 0xfff) & ~0xfff ))
for s in osrel:"$work/osrel" cmdline:"$work/cmdline" linux:"$vmlinuz" initrd:"$work/initrd.gz"; do
  name="${s%%:*}"; file="${s#*:}"
  args+=(--add-section ".$name=$file" --change-section-vma ".$name=$(printf 0x%x $next)")
  size=$(stat -c %s "$file")
  next=$(( (next + size + 0xfff) & ~0xfff ))
done
objcopy "${args[@]}" "$stub" "$work/payload.efi"
mv "$work/payload.efi" "$out"
# Older payloads are no use any more.
find "$cache" -maxdepth 1 -name 'payload-*.efi' ! -name "$(basename "$out")" -delete
log "built $out ($(stat -c %s "$out") bytes; kernel $(basename "$vmlinuz"), modules: $(ls "$root/modules" | tr '\n' ' '))"
echo "$out"

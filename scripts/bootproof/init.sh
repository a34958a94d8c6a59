#!/bin/busybox sh
# /init of the boot-proof payload (see make-payload.sh). The firmware has
# started us from the disk under test; from the guest's own view of that
# disk (the first virtio disk, /dev/vda) we check what the host expects and
# print one verdict line on the serial console, then power off.
#
# The host passes its expectations through qemu's fw_cfg, as the file
# opt/wimforge/expect: one item a line, fields separated by spaces:
#   DISK_SECTORS n                   size of the disk in 512-byte sectors
#   PARTS n                          number of GPT entries in use
#   PART i TYPE-GUID UNIQUE-GUID first-lba sectors
#   ESP i                            partition number of the ESP (FAT32)
#   NTFS i                           partition number of the Windows partition
#   ESP_FILE path sha256             a file on the ESP and its SHA-256
#   ESP_REGF path                    a file on the ESP that is a registry hive
#   NTFS_FILE path sha256            a file on the NTFS partition (read with ntfscat)
#   NTFS_LS dir name                 ntfsls lists name in dir
#   LOADER_PART guid                 systemd-stub's LoaderDevicePartUUID
#   LOADER_IMAGE path                systemd-stub's LoaderImageIdentifier (no case)
# Every check prints "bootproof: ok NAME" or "bootproof: FAIL NAME: why";
# the last line is "WIMFORGE-BOOTPROOF: PASS n/n" or
# "WIMFORGE-BOOTPROOF: FAIL k/n failed: NAME ...".

/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin LD_LIBRARY_PATH=/lib
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# Kernel messages would interleave with ours on the console: keep them off.
echo 1 >/proc/sys/kernel/printk
echo "bootproof: init started (uptime $(cut -d' ' -f1 /proc/uptime) s)"
for m in /modules/*.ko; do
  insmod "$m" || echo "bootproof: insmod $m failed"
done

total=0
failed=0
failed_names=""
ok() { total=$((total + 1)); echo "bootproof: ok $1"; }
bad() {
  total=$((total + 1)); failed=$((failed + 1)); failed_names="$failed_names $1"
  echo "bootproof: FAIL $1: $2"
}
# check NAME EXPECTED ACTUAL
check() {
  if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "expected '$2', found '$3'"; fi
}
finish() {
  echo "bootproof: checks done (uptime $(cut -d' ' -f1 /proc/uptime) s)"
  if [ $failed -eq 0 ] && [ $total -gt 0 ]; then
    echo "WIMFORGE-BOOTPROOF: PASS $total/$total"
  else
    echo "WIMFORGE-BOOTPROOF: FAIL $failed/$total failed:$failed_names"
  fi
  sync
  poweroff -f
  sleep 5
  exit 1
}

wait_for() { # path seconds
  n=0
  while [ ! -e "$1" ] && [ $n -lt $(($2 * 10)) ]; do usleep 100000; n=$((n + 1)); done
  [ -e "$1" ]
}

expect=/sys/firmware/qemu_fw_cfg/by_name/opt/wimforge/expect/raw
if wait_for "$expect" 10; then
  cp "$expect" /tmp/expect
  ok expectations
else
  bad expectations "no fw_cfg file opt/wimforge/expect"
  finish
fi
echo "bootproof: expectations:"
sed 's/^/bootproof:   /' /tmp/expect

disk=/dev/vda
if wait_for $disk 20; then ok disk.present; else bad disk.present "no $disk"; finish; fi
sleep 1 # let the partition scan settle

hex16() { od -An -tx1 -v -j "$2" -N 16 "$1" | tr -d ' \n'; }
# GUID as text from its 16 on-disk bytes (first three fields little-endian).
guid_at() {
  h=$(hex16 "$1" "$2")
  echo "$h" | sed -E -e 's/^(..)(..)(..)(..)(..)(..)(..)(..)(.*)$/\4\3\2\1-\6\5-\8\7-\9/' \
    -e 's/(....)(............)$/\1-\2/' | tr a-f A-F
}
u64_at() { od -An -tu8 -j "$2" -N 8 "$1" | tr -d ' \n'; }
u32_at() { od -An -tu4 -j "$2" -N 4 "$1" | tr -d ' \n'; }
str_at() { dd if="$1" bs=1 skip="$2" count="$3" 2>/dev/null; }
upper() { tr a-f A-F; }

# --- the partition table ------------------------------------------------------
line() { grep "^$1 " /tmp/expect | head -n 1 | cut -d' ' -f2-; }
check disk.sectors "$(line DISK_SECTORS)" "$(cat /sys/block/vda/size)"
check gpt.signature "EFI PART" "$(str_at $disk 512 8)"
entries_lba=$(u64_at $disk 584)
entries=$(u32_at $disk 592)
esize=$(u32_at $disk 596)
# Entries in use: those whose type GUID is not all zeros (one line each).
used=-1
if [ "${esize:-0}" -ge 128 ] && [ "${entries:-0}" -ge 1 ] && [ "$entries" -le 1024 ]; then
  used=$(hexdump -v -s $((entries_lba * 512)) -n $((entries * esize)) -e "16/1 \"%02x\" \"\n\"" $disk |
    awk -v per=$((esize / 16)) 'NR % per == 1 && $0 != "00000000000000000000000000000000" { n++ } END { print n + 0 }')
fi
check gpt.entries-in-use "$(line PARTS)" "$used"
kparts=$(ls /sys/block/vda | grep -c '^vda[0-9]')
check kernel.partitions "$(line PARTS)" "$kparts"
grep '^PART ' /tmp/expect | while read -r _ n type uniq first sectors; do
  off=$((entries_lba * 512 + (n - 1) * esize))
  echo "part$n.type $type $(guid_at $disk $off)"
  echo "part$n.unique $uniq $(guid_at $disk $((off + 16)))"
  echo "part$n.first-lba $first $(u64_at $disk $((off + 32)))"
  echo "part$n.last-lba $((first + sectors - 1)) $(u64_at $disk $((off + 40)))"
  echo "kernel.part$n.start $first $(cat /sys/block/vda/vda$n/start 2>/dev/null)"
  echo "kernel.part$n.sectors $sectors $(cat /sys/block/vda/vda$n/size 2>/dev/null)"
done >/tmp/part-checks
while read -r name want have; do check "$name" "$want" "$have"; done </tmp/part-checks

# --- the ESP ------------------------------------------------------------------------
espn=$(line ESP)
esp=$disk$espn
check esp.fat32-boot-sector "FAT32   " "$(str_at $esp 82 8)"
check esp.boot-signature "55aa" "$(od -An -tx1 -j 510 -N 2 $esp | tr -d ' \n')"
if mount -t vfat -o ro $esp /esp; then
  ok esp.mount
  grep '^ESP_FILE ' /tmp/expect | while read -r _ path sum; do
    if [ -f "/esp/$path" ]; then
      echo "esp.file:$path $sum $(sha256sum "/esp/$path" | cut -d' ' -f1)"
    else
      echo "esp.file:$path $sum missing"
    fi
  done >/tmp/esp-checks
  while read -r name want have; do check "$name" "$want" "$have"; done </tmp/esp-checks
  for path in $(grep '^ESP_REGF ' /tmp/expect | cut -d' ' -f2); do
    check "esp.regf:$path" regf "$(head -c 4 "/esp/$path" 2>/dev/null)"
  done
  umount /esp
else
  bad esp.mount "mount -t vfat $esp failed"
fi

# --- what the firmware told the stub --------------------------------------------
efivar() { # name: the UTF-16 string value of a systemd loader variable
  f=/sys/firmware/efi/efivars/$1-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
  [ -f "$f" ] && tail -c +5 "$f" | tr -d '\000'
}
mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
want=$(line LOADER_PART)
[ -z "$want" ] || check loader.partition "$want" "$(efivar LoaderDevicePartUUID | upper)"
want=$(line LOADER_IMAGE)
if [ -n "$want" ]; then
  have=$(efivar LoaderImageIdentifier | tr a-z A-Z)
  check loader.image "$(echo "$want" | tr a-z A-Z)" "$have"
fi

# --- the Windows partition ---------------------------------------------------------
ntfs=$disk$(line NTFS)
check ntfs.boot-sector "NTFS    " "$(str_at $ntfs 3 8)"
grep '^NTFS_FILE ' /tmp/expect | while read -r _ path sum; do
  if ntfscat $ntfs "$path" >/tmp/ntfs-file 2>/tmp/ntfs-err; then
    echo "ntfs.file:$path $sum $(sha256sum /tmp/ntfs-file | cut -d' ' -f1)"
  else
    echo "ntfs.file:$path $sum ntfscat-failed:$(head -n 1 /tmp/ntfs-err | tr ' ' _)"
  fi
  rm -f /tmp/ntfs-file
done >/tmp/ntfs-checks
while read -r name want have; do check "$name" "$want" "$have"; done </tmp/ntfs-checks
grep '^NTFS_LS ' /tmp/expect | while read -r _ dir name; do
  if ntfsls -p "/$dir" $ntfs 2>/dev/null | grep -qx "$name"; then
    echo "ntfs.ls:$dir/$name listed listed"
  else
    echo "ntfs.ls:$dir/$name listed absent"
  fi
done >/tmp/ls-checks
while read -r name want have; do check "$name" "$want" "$have"; done </tmp/ls-checks

finish

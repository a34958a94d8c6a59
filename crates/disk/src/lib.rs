//! Partition layouts (GPT and MBR) and the FAT32 EFI system partition.

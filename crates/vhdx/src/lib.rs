//! MS-VHDX v1.0 virtual disks (being written).

//! Offline `bcdboot`: boot files and the BCD store.

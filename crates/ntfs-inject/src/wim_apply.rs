//! WIM apply backend: placeholder.

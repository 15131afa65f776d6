//! See the table in `sys/mod.rs`.

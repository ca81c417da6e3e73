//! What the families' table rows share: the row builders (re-exported from `crate::table`),
//! the key-spec shorthands and the flag sets several families use.
//!
//! A family module writes `use super::common::*;` and declares its rows with these. Flags and
//! ACL categories are listed in the order Redis 7.0 reports them, so `COMMAND INFO` matches
//! byte for byte.

pub use crate::table::{arg, cmd, container, ks, ks_keyword, tok, Arg, Command, KeySpec};

/// One key at argument 1, read (and its value accessed).
pub const RO: &[KeySpec] = &[ks(&["RO", "access"], 1, 0, 1)];
/// Every argument from 1 on is a key, read without access to the value.
pub const RO_ALL: &[KeySpec] = &[ks(&["RO"], 1, -1, 1)];
/// Every argument from 1 on is a key, read.
pub const RO_ACCESS_ALL: &[KeySpec] = &[ks(&["RO", "access"], 1, -1, 1)];
/// One key at argument 1, updated.
pub const RW_UPDATE: &[KeySpec] = &[ks(&["RW", "update"], 1, 0, 1)];
/// One key at argument 1, read and updated.
pub const RW_ACCESS_UPDATE: &[KeySpec] = &[ks(&["RW", "access", "update"], 1, 0, 1)];
/// Every argument from 1 on is a key, deleted.
pub const RM_ALL: &[KeySpec] = &[ks(&["RM", "delete"], 1, -1, 1)];

/// Connection commands that work before AUTH and while loading.
pub const CONN: &[&str] = &[
    "noscript",
    "loading",
    "stale",
    "fast",
    "no_auth",
    "allow_busy",
];
/// The transaction commands.
pub const TX: &[&str] = &["noscript", "loading", "stale", "fast", "allow_busy"];

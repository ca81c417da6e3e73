//! The command table and the command modules, one per family.
//!
//! Each row declares a command once: name, arity, flags, key positions and key specs, ACL
//! categories, documentation and handler. Flags and ACL categories are listed in the order
//! Redis 7.0 reports them, so `COMMAND INFO` matches byte for byte.

pub mod client;
pub mod config_cmd;
pub mod connection;
pub mod groups;
pub mod info;
pub mod jobs;
pub mod keys;
pub mod multi;
pub mod server;
pub mod streams;
pub mod strings;

use ahash::AHashMap as HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::engine::Ctx;
use crate::table::{arg, cmd, container, ks, ks_keyword, tok, Arg, Command, KeySpec};

const RO: &[KeySpec] = &[ks(&["RO", "access"], 1, 0, 1)];
const RO_ALL: &[KeySpec] = &[ks(&["RO"], 1, -1, 1)];
const RO_ACCESS_ALL: &[KeySpec] = &[ks(&["RO", "access"], 1, -1, 1)];
const RW_UPDATE: &[KeySpec] = &[ks(&["RW", "update"], 1, 0, 1)];
const RW_ACCESS_UPDATE: &[KeySpec] = &[ks(&["RW", "access", "update"], 1, 0, 1)];
const RM_ALL: &[KeySpec] = &[ks(&["RM", "delete"], 1, -1, 1)];

const CONN: &[&str] = &[
    "noscript",
    "loading",
    "stale",
    "fast",
    "no_auth",
    "allow_busy",
];
const TX: &[&str] = &["noscript", "loading", "stale", "fast", "allow_busy"];
const EXPIRE_ARGS: &[Arg] = &[
    arg("key", "key"),
    arg("seconds", "integer"),
    arg("condition", "oneof")
        .opt()
        .of(&[tok("NX"), tok("XX"), tok("GT"), tok("LT")]),
];

pub static COMMANDS: &[Command] = &[
    // connection
    cmd("ping", -1, connection::ping)
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"])
        .flags(&["fast"])
        .acl(&["@fast", "@connection"])
        .doc("connection", "1.0.0", "O(1)", "Ping the server")
        .args(&[arg("message", "string").opt()]),
    cmd("echo", 2, connection::echo)
        .flags(&["fast"])
        .acl(&["@fast", "@connection"])
        .doc("connection", "1.0.0", "O(1)", "Echo the given string")
        .args(&[arg("message", "string")]),
    cmd("hello", -1, connection::hello)
        .flags(CONN)
        .acl(&["@fast", "@connection"])
        .doc("connection", "6.0.0", "O(1)", "Handshake with Redis")
        .args(&[arg("arguments", "block").opt().of(&[
            arg("protover", "integer"),
            arg("username_password", "block")
                .token("AUTH")
                .opt()
                .of(&[arg("username", "string"), arg("password", "string")]),
            arg("clientname", "string").token("SETNAME").opt(),
        ])]),
    cmd("auth", -2, connection::auth)
        .flags(CONN)
        .acl(&["@fast", "@connection"])
        .doc(
            "connection",
            "1.0.0",
            "O(N) where N is the number of passwords defined for the user",
            "Authenticate to the server",
        )
        .args(&[arg("username", "string").opt(), arg("password", "string")]),
    cmd("select", 2, connection::select)
        .flags(&["loading", "stale", "fast"])
        .acl(&["@fast", "@connection"])
        .doc(
            "connection",
            "1.0.0",
            "O(1)",
            "Change the selected database for the current connection",
        )
        .args(&[arg("index", "integer")]),
    cmd("quit", -1, connection::quit)
        .flags(&[
            "noscript",
            "loading",
            "stale",
            "fast",
            "no_auth",
            "allow_busy",
        ])
        .acl(&["@fast", "@connection"])
        .doc("connection", "1.0.0", "O(1)", "Close the connection"),
    cmd("reset", 1, connection::reset)
        .flags(CONN)
        .acl(&["@fast", "@connection"])
        .doc("connection", "6.2.0", "O(1)", "Reset the connection"),
    container("client", &CLIENT_SUBCOMMANDS)
        .acl(&["@slow"])
        .doc(
            "connection",
            "2.4.0",
            "Depends on subcommand.",
            "A container for client connection commands",
        ),
    // server
    container("config", &CONFIG_SUBCOMMANDS)
        .acl(&["@slow"])
        .doc(
            "server",
            "2.0.0",
            "Depends on subcommand.",
            "A container for server configuration commands",
        ),
    cmd("info", -1, info::info)
        .tips(&["nondeterministic_output", "request_policy:all_shards", "response_policy:special"])
        .flags(&["loading", "stale"])
        .acl(&["@slow", "@dangerous"])
        .doc(
            "server",
            "1.0.0",
            "O(1)",
            "Get information and statistics about the server",
        )
        .args(&[arg("section", "string").opt().many()]),
    cmd("dbsize", 1, keys::dbsize)
        .tips(&["request_policy:all_shards", "response_policy:agg_sum"])
        .flags(&["readonly", "fast"])
        .acl(&["@keyspace", "@read", "@fast"])
        .doc(
            "server",
            "1.0.0",
            "O(1)",
            "Return the number of keys in the selected database",
        ),
    cmd("flushdb", -1, keys::flushdb)
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"])
        .flags(&["write"])
        .acl(&["@keyspace", "@write", "@slow", "@dangerous"])
        .doc(
            "server",
            "1.0.0",
            "O(N) where N is the number of keys in the selected database",
            "Remove all keys from the current database",
        )
        .args(&[arg("flush-type", "oneof")
            .opt()
            .of(&[tok("ASYNC"), tok("SYNC")])]),
    cmd("flushall", -1, keys::flushall)
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"])
        .flags(&["write"])
        .acl(&["@keyspace", "@write", "@slow", "@dangerous"])
        .doc(
            "server",
            "1.0.0",
            "O(N) where N is the total number of keys in all databases",
            "Remove all keys from all databases",
        )
        .args(&[arg("flush-type", "oneof")
            .opt()
            .of(&[tok("ASYNC"), tok("SYNC")])]),
    cmd("shutdown", -1, connection::shutdown)
        .flags(&["admin", "noscript", "loading", "stale", "no_multi", "allow_busy"])
        .acl(&["@admin", "@slow", "@dangerous"])
        .doc("server", "1.0.0", "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)", "Synchronously save the dataset to disk and then shut down the server")
        .args(&[
            arg("nosave-save", "oneof").opt().of(&[tok("NOSAVE"), tok("SAVE")]),
            tok("NOW").since("7.0.0").opt(),
            tok("FORCE").since("7.0.0").opt(),
            tok("ABORT").since("7.0.0").opt(),
        ]),
    cmd("time", 1, server::time)
        .tips(&["nondeterministic_output"])
        .flags(&["loading", "stale", "fast"])
        .acl(&["@fast"])
        .doc("server", "2.6.0", "O(1)", "Return the current server time"),
    container("command", &COMMAND_SUBCOMMANDS)
        .tips(&["nondeterministic_output_order"])
        .bare(-1, server::command_info)
        .flags(&["loading", "stale"])
        .acl(&["@slow", "@connection"])
        .doc(
            "server",
            "2.8.13",
            "O(N) where N is the total number of Redis commands",
            "Get array of Redis command details",
        ),
    // generic
    cmd("del", -2, keys::del)
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"])
        .flags(&["write"])
        .keys(1, -1, 1, RM_ALL)
        .acl(&["@keyspace", "@write", "@slow"])
        .doc(
            "generic",
            "1.0.0",
            "O(N) where N is the number of keys that will be removed.",
            "Delete a key",
        )
        .args(&[arg("key", "key").many()]),
    cmd("unlink", -2, keys::del)
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"])
        .flags(&["write", "fast"])
        .keys(1, -1, 1, RM_ALL)
        .acl(&["@keyspace", "@write", "@fast"])
        .doc(
            "generic",
            "4.0.0",
            "O(1) for each key removed regardless of its size.",
            "Delete a key asynchronously in another thread.",
        )
        .args(&[arg("key", "key").many()]),
    cmd("exists", -2, keys::exists)
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"])
        .flags(&["readonly", "fast"])
        .keys(1, -1, 1, RO_ALL)
        .acl(&["@keyspace", "@read", "@fast"])
        .doc(
            "generic",
            "1.0.0",
            "O(N) where N is the number of keys to check.",
            "Determine if a key exists",
        )
        .args(&[arg("key", "key").many()]),
    cmd("type", 2, keys::type_)
        .flags(&["readonly", "fast"])
        .keys(1, 1, 1, &[ks(&["RO"], 1, 0, 1)])
        .acl(&["@keyspace", "@read", "@fast"])
        .doc(
            "generic",
            "1.0.0",
            "O(1)",
            "Determine the type stored at key",
        )
        .args(&[arg("key", "key")]),
    cmd("keys", 2, keys::keys)
        .tips(&["request_policy:all_shards", "nondeterministic_output_order"])
        .flags(&["readonly"])
        .acl(&["@keyspace", "@read", "@slow", "@dangerous"])
        .doc(
            "generic",
            "1.0.0",
            "O(N) with N being the number of keys in the database",
            "Find all keys matching the given pattern",
        )
        .args(&[arg("pattern", "pattern")]),
    cmd("scan", -2, keys::scan)
        .tips(&["nondeterministic_output", "request_policy:special"])
        .flags(&["readonly"])
        .acl(&["@keyspace", "@read", "@slow"])
        .doc(
            "generic",
            "2.8.0",
            "O(1) for every call. O(N) for a complete iteration.",
            "Incrementally iterate the keys space",
        )
        .args(&[
            arg("cursor", "integer"),
            arg("pattern", "pattern").token("MATCH").opt(),
            arg("count", "integer").token("COUNT").opt(),
            arg("type", "string").token("TYPE").opt(),
        ]),
    cmd("rename", 3, keys::rename)
        .flags(&["write"])
        .keys(
            1,
            2,
            1,
            &[
                ks(&["RW", "access", "delete"], 1, 0, 1),
                ks(&["OW", "update"], 2, 0, 1),
            ],
        )
        .acl(&["@keyspace", "@write", "@slow"])
        .doc("generic", "1.0.0", "O(1)", "Rename a key")
        .args(&[arg("key", "key"), arg("newkey", "key")]),
    cmd("renamenx", 3, keys::renamenx)
        .flags(&["write", "fast"])
        .keys(
            1,
            2,
            1,
            &[
                ks(&["RW", "access", "delete"], 1, 0, 1),
                ks(&["OW", "insert"], 2, 0, 1),
            ],
        )
        .acl(&["@keyspace", "@write", "@fast"])
        .doc(
            "generic",
            "1.0.0",
            "O(1)",
            "Rename a key, only if the new key does not exist",
        )
        .args(&[arg("key", "key"), arg("newkey", "key")]),
    cmd("expire", -3, keys::expire)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@keyspace", "@write", "@fast"])
        .doc(
            "generic",
            "1.0.0",
            "O(1)",
            "Set a key's time to live in seconds",
        )
        .args(EXPIRE_ARGS),
    cmd("pexpire", -3, keys::pexpire)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@keyspace", "@write", "@fast"])
        .doc(
            "generic",
            "2.6.0",
            "O(1)",
            "Set a key's time to live in milliseconds",
        )
        .args(EXPIRE_ARGS),
    cmd("expireat", -3, keys::expireat)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@keyspace", "@write", "@fast"])
        .doc(
            "generic",
            "1.2.0",
            "O(1)",
            "Set the expiration for a key as a UNIX timestamp",
        )
        .args(EXPIRE_ARGS),
    cmd("pexpireat", -3, keys::pexpireat)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@keyspace", "@write", "@fast"])
        .doc(
            "generic",
            "2.6.0",
            "O(1)",
            "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
        )
        .args(EXPIRE_ARGS),
    cmd("ttl", 2, keys::ttl)
        .tips(&["nondeterministic_output"])
        .flags(&["readonly", "fast"])
        .keys(1, 1, 1, RO)
        .acl(&["@keyspace", "@read", "@fast"])
        .doc(
            "generic",
            "1.0.0",
            "O(1)",
            "Get the time to live for a key in seconds",
        )
        .args(&[arg("key", "key")]),
    cmd("pttl", 2, keys::pttl)
        .tips(&["nondeterministic_output"])
        .flags(&["readonly", "fast"])
        .keys(1, 1, 1, RO)
        .acl(&["@keyspace", "@read", "@fast"])
        .doc(
            "generic",
            "2.6.0",
            "O(1)",
            "Get the time to live for a key in milliseconds",
        )
        .args(&[arg("key", "key")]),
    cmd("expiretime", 2, keys::expiretime)
        .flags(&["readonly", "fast"])
        .keys(1, 1, 1, RO)
        .acl(&["@keyspace", "@read", "@fast"])
        .doc(
            "generic",
            "7.0.0",
            "O(1)",
            "Get the expiration Unix timestamp for a key",
        )
        .args(&[arg("key", "key")]),
    cmd("pexpiretime", 2, keys::pexpiretime)
        .flags(&["readonly", "fast"])
        .keys(1, 1, 1, RO)
        .acl(&["@keyspace", "@read", "@fast"])
        .doc(
            "generic",
            "7.0.0",
            "O(1)",
            "Get the expiration Unix timestamp for a key in milliseconds",
        )
        .args(&[arg("key", "key")]),
    cmd("randomkey", 1, keys::randomkey)
        .tips(&["request_policy:all_shards", "nondeterministic_output"])
        .flags(&["readonly"])
        .acl(&["@keyspace", "@read", "@slow"])
        .doc(
            "generic",
            "1.0.0",
            "O(1)",
            "Return a random key from the keyspace",
        ),
    container("object", &OBJECT_SUBCOMMANDS)
        .acl(&["@slow"])
        .doc(
            "generic",
            "2.2.3",
            "Depends on subcommand.",
            "A container for object introspection commands",
        ),
    cmd("persist", 2, keys::persist)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@keyspace", "@write", "@fast"])
        .doc(
            "generic",
            "2.2.0",
            "O(1)",
            "Remove the expiration from a key",
        )
        .args(&[arg("key", "key")]),
    // strings
    cmd("get", 2, strings::get)
        .flags(&["readonly", "fast"])
        .keys(1, 1, 1, RO)
        .acl(&["@read", "@string", "@fast"])
        .doc("string", "1.0.0", "O(1)", "Get the value of a key")
        .args(&[arg("key", "key")]),
    cmd("set", -3, strings::set)
        .flags(&["write", "denyoom"])
        .keys(
            1,
            1,
            1,
            &[ks(&["RW", "access", "update", "variable_flags"], 1, 0, 1)
                .notes("RW and ACCESS due to the optional `GET` argument")],
        )
        .acl(&["@write", "@string", "@slow"])
        .doc("string", "1.0.0", "O(1)", "Set the string value of a key")
        .history(&[
            ("2.6.12", "Added the `EX`, `PX`, `NX` and `XX` options."),
            ("6.0.0", "Added the `KEEPTTL` option."),
            ("6.2.0", "Added the `GET`, `EXAT` and `PXAT` option."),
            (
                "7.0.0",
                "Allowed the `NX` and `GET` options to be used together.",
            ),
        ])
        .args(&[
            arg("key", "key"),
            arg("value", "string"),
            arg("condition", "oneof")
                .since("2.6.12")
                .opt()
                .of(&[tok("NX"), tok("XX")]),
            tok("GET").since("6.2.0").opt(),
            arg("expiration", "oneof").opt().of(&[
                arg("seconds", "integer").token("EX").since("2.6.12"),
                arg("milliseconds", "integer").token("PX").since("2.6.12"),
                arg("unix-time-seconds", "unix-time")
                    .token("EXAT")
                    .since("6.2.0"),
                arg("unix-time-milliseconds", "unix-time")
                    .token("PXAT")
                    .since("6.2.0"),
                tok("KEEPTTL").since("6.0.0"),
            ]),
        ]),
    cmd("setnx", 3, strings::setnx)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, &[ks(&["OW", "insert"], 1, 0, 1)])
        .acl(&["@write", "@string", "@fast"])
        .doc(
            "string",
            "1.0.0",
            "O(1)",
            "Set the value of a key, only if the key does not exist",
        )
        .args(&[arg("key", "key"), arg("value", "string")]),
    cmd("incr", 2, strings::incr)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, RW_ACCESS_UPDATE)
        .acl(&["@write", "@string", "@fast"])
        .doc(
            "string",
            "1.0.0",
            "O(1)",
            "Increment the integer value of a key by one",
        )
        .args(&[arg("key", "key")]),
    cmd("decr", 2, strings::decr)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, RW_ACCESS_UPDATE)
        .acl(&["@write", "@string", "@fast"])
        .doc(
            "string",
            "1.0.0",
            "O(1)",
            "Decrement the integer value of a key by one",
        )
        .args(&[arg("key", "key")]),
    cmd("incrby", 3, strings::incrby)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, RW_ACCESS_UPDATE)
        .acl(&["@write", "@string", "@fast"])
        .doc(
            "string",
            "1.0.0",
            "O(1)",
            "Increment the integer value of a key by the given amount",
        )
        .args(&[arg("key", "key"), arg("increment", "integer")]),
    cmd("decrby", 3, strings::decrby)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, RW_ACCESS_UPDATE)
        .acl(&["@write", "@string", "@fast"])
        .doc(
            "string",
            "1.0.0",
            "O(1)",
            "Decrement the integer value of a key by the given number",
        )
        .args(&[arg("key", "key"), arg("decrement", "integer")]),
    cmd("mget", -2, strings::mget)
        .tips(&["request_policy:multi_shard"])
        .flags(&["readonly", "fast"])
        .keys(1, -1, 1, RO_ACCESS_ALL)
        .acl(&["@read", "@string", "@fast"])
        .doc(
            "string",
            "1.0.0",
            "O(N) where N is the number of keys to retrieve.",
            "Get the values of all the given keys",
        )
        .args(&[arg("key", "key").many()]),
    cmd("mset", -3, strings::mset)
        .tips(&["request_policy:multi_shard", "response_policy:all_succeeded"])
        .flags(&["write", "denyoom"])
        .keys(1, -1, 2, &[ks(&["OW", "update"], 1, -1, 2)])
        .acl(&["@write", "@string", "@slow"])
        .doc(
            "string",
            "1.0.1",
            "O(N) where N is the number of keys to set.",
            "Set multiple keys to multiple values",
        )
        .args(&[arg("data", "block")
            .many()
            .of(&[arg("key", "key"), arg("value", "string")])]),
    // streams
    cmd("xadd", -5, streams::xadd)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "update"], 1, 0, 1).notes("UPDATE instead of INSERT because of the optional trimming feature")])
        .acl(&["@write", "@stream", "@fast"])
        .tips(&["nondeterministic_output"])
        .doc("stream", "5.0.0", "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.", "Appends a new entry to a stream")
        .history(&[
            ("6.2.0", "Added the `NOMKSTREAM` option, `MINID` trimming strategy and the `LIMIT` option."),
            ("7.0.0", "Added support for the `<ms>-*` explicit ID form."),
        ])
        .args(&[
            arg("key", "key"),
            tok("NOMKSTREAM").since("6.2.0").opt(),
            arg("trim", "block").opt().of(&[
                arg("strategy", "oneof").of(&[tok("MAXLEN"), tok("MINID").since("6.2.0")]),
                arg("operator", "oneof").opt().of(&[arg("equal", "pure-token").token("="), arg("approximately", "pure-token").token("~")]),
                arg("threshold", "string"),
                arg("count", "integer").token("LIMIT").since("6.2.0").opt(),
            ]),
            arg("id-selector", "oneof").of(&[arg("auto-id", "pure-token").token("*"), arg("id", "string")]),
            arg("data", "block").many().of(&[arg("field", "string"), arg("value", "string")]),
        ]),
    cmd("xrange", -4, streams::xrange)
        .flags(&["readonly"])
        .keys(1, 1, 1, RO)
        .acl(&["@read", "@stream", "@slow"])
        .doc("stream", "5.0.0", "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).", "Return a range of elements in a stream, with IDs matching the specified IDs interval")
        .history(&[("6.2.0", "Added exclusive ranges.")])
        .args(&[arg("key", "key"), arg("start", "string"), arg("end", "string"), arg("count", "integer").token("COUNT").opt()]),
    cmd("xrevrange", -4, streams::xrevrange)
        .flags(&["readonly"])
        .keys(1, 1, 1, RO)
        .acl(&["@read", "@stream", "@slow"])
        .doc("stream", "5.0.0", "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).", "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE")
        .history(&[("6.2.0", "Added exclusive ranges.")])
        .args(&[arg("key", "key"), arg("end", "string"), arg("start", "string"), arg("count", "integer").token("COUNT").opt()]),
    cmd("xlen", 2, streams::xlen)
        .flags(&["readonly", "fast"])
        .keys(1, 1, 1, &[ks(&["RO"], 1, 0, 1)])
        .acl(&["@read", "@stream", "@fast"])
        .doc("stream", "5.0.0", "O(1)", "Return the number of entries in a stream")
        .args(&[arg("key", "key")]),
    cmd("xdel", -3, streams::xdel)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "delete"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@fast"])
        .doc("stream", "5.0.0", "O(1) for each single item to delete in the stream, regardless of the stream size.", "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.")
        .args(&[arg("key", "key"), arg("id", "string").many()]),
    cmd("xtrim", -4, streams::xtrim)
        .flags(&["write"])
        .keys(1, 1, 1, &[ks(&["RW", "delete"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@slow"])
        .tips(&["nondeterministic_output"])
        .doc("stream", "5.0.0", "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.", "Trims the stream to (approximately if '~' is passed) a certain size")
        .history(&[("6.2.0", "Added the `MINID` trimming strategy and the `LIMIT` option.")])
        .args(&[
            arg("key", "key"),
            arg("trim", "block").of(&[
                arg("strategy", "oneof").of(&[tok("MAXLEN"), tok("MINID").since("6.2.0")]),
                arg("operator", "oneof").opt().of(&[arg("equal", "pure-token").token("="), arg("approximately", "pure-token").token("~")]),
                arg("threshold", "string"),
                arg("count", "integer").token("LIMIT").since("6.2.0").opt(),
            ]),
        ]),
    cmd("xsetid", -3, streams::xsetid)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "update"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@fast"])
        .doc("stream", "5.0.0", "O(1)", "An internal command for replicating stream values")
        .history(&[("7.0.0", "Added the `entries_added` and `max_deleted_entry_id` arguments.")])
        .args(&[
            arg("key", "key"),
            arg("last-id", "string"),
            arg("entries-added", "integer").token("ENTRIESADDED").since("7.0.0").opt(),
            arg("max-deleted-id", "string").token("MAXDELETEDID").since("7.0.0").opt(),
        ]),
    cmd("xread", -4, streams::xread)
        .flags(&["readonly", "blocking", "movablekeys"])
        .keys(0, 0, 0, &[ks_keyword(&["RO", "access"], "STREAMS", 1, -1, 1, 2)])
        .acl(&["@read", "@stream", "@slow", "@blocking"])
        .doc("stream", "5.0.0", "For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data.", "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.")
        .args(&[
            arg("count", "integer").token("COUNT").opt(),
            arg("milliseconds", "integer").token("BLOCK").opt(),
            arg("streams", "block").token("STREAMS").of(&[arg("key", "key").many(), arg("id", "string").many()]),
        ]),
    cmd("xreadgroup", -7, groups::xreadgroup)
        .flags(&["write", "blocking", "movablekeys"])
        .keys(0, 0, 0, &[ks_keyword(&["RO", "access"], "STREAMS", 4, -1, 1, 2)])
        .acl(&["@write", "@stream", "@slow", "@blocking"])
        .doc("stream", "5.0.0", "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.", "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.")
        .args(&[
            arg("group-block", "block").token("GROUP").of(&[arg("group", "string"), arg("consumer", "string")]),
            arg("count", "integer").token("COUNT").opt(),
            arg("milliseconds", "integer").token("BLOCK").opt(),
            tok("NOACK").opt(),
            arg("streams", "block").token("STREAMS").of(&[arg("key", "key").many(), arg("id", "string").many()]),
        ]),
    cmd("xack", -4, groups::xack)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "update"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@fast"])
        .doc("stream", "5.0.0", "O(1) for each message ID processed.", "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.")
        .args(&[arg("key", "key"), arg("group", "string"), arg("id", "string").many()]),
    cmd("xpending", -3, groups::xpending)
        .flags(&["readonly"])
        .keys(1, 1, 1, RO)
        .acl(&["@read", "@stream", "@slow"])
        .tips(&["nondeterministic_output"])
        .doc("stream", "5.0.0", "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.", "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.")
        .history(&[("6.2.0", "Added the `IDLE` option and exclusive range intervals.")])
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("filters", "block").opt().of(&[
                arg("min-idle-time", "integer").token("IDLE").since("6.2.0").opt(),
                arg("start", "string"),
                arg("end", "string"),
                arg("count", "integer"),
                arg("consumer", "string").opt(),
            ]),
        ]),
    cmd("xclaim", -6, groups::xclaim)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "update"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@fast"])
        .tips(&["nondeterministic_output"])
        .doc("stream", "5.0.0", "O(log N) with N being the number of messages in the PEL of the consumer group.", "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.")
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("consumer", "string"),
            arg("min-idle-time", "string"),
            arg("id", "string").many(),
            arg("ms", "integer").token("IDLE").opt(),
            arg("unix-time-milliseconds", "unix-time").token("TIME").opt(),
            arg("count", "integer").token("RETRYCOUNT").opt(),
            tok("FORCE").opt(),
            tok("JUSTID").opt(),
            arg("lastid", "string").token("LASTID").opt(),
        ]),
    cmd("xautoclaim", -6, groups::xautoclaim)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "delete"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@fast"])
        .tips(&["nondeterministic_output"])
        .doc("stream", "6.2.0", "O(1) if COUNT is small.", "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.")
        .history(&[("7.0.0", "Added an element to the reply array, containing deleted entries the command cleared from the PEL")])
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("consumer", "string"),
            arg("min-idle-time", "string"),
            arg("start", "string"),
            arg("count", "integer").token("COUNT").opt(),
            tok("JUSTID").opt(),
        ]),
    container("xgroup", &XGROUP_SUBCOMMANDS)
        .acl(&["@slow"])
        .doc("stream", "5.0.0", "Depends on subcommand.", "A container for consumer groups commands"),
    container("xinfo", &XINFO_SUBCOMMANDS)
        .acl(&["@slow"])
        .doc("stream", "5.0.0", "Depends on subcommand.", "A container for stream introspection commands"),
    // transactions
    cmd("multi", 1, multi::multi)
        .flags(TX)
        .acl(&["@fast", "@transaction"])
        .doc(
            "transactions",
            "1.2.0",
            "O(1)",
            "Mark the start of a transaction block",
        ),
    cmd("exec", 1, multi::exec)
        .flags(&["noscript", "loading", "stale", "skip_slowlog"])
        .acl(&["@slow", "@transaction"])
        .doc(
            "transactions",
            "1.2.0",
            "Depends on commands in the transaction",
            "Execute all commands issued after MULTI",
        ),
    cmd("discard", 1, multi::discard)
        .flags(TX)
        .acl(&["@fast", "@transaction"])
        .doc(
            "transactions",
            "2.0.0",
            "O(N), when N is the number of queued commands",
            "Discard all commands issued after MULTI",
        ),
    cmd("watch", -2, multi::watch)
        .flags(TX)
        .keys(1, -1, 1, RO_ALL)
        .acl(&["@fast", "@transaction"])
        .doc(
            "transactions",
            "2.2.0",
            "O(1) for every key.",
            "Watch the given keys to determine execution of the MULTI/EXEC block",
        )
        .args(&[arg("key", "key").many()]),
    cmd("unwatch", 1, multi::unwatch)
        .flags(TX)
        .acl(&["@fast", "@transaction"])
        .doc(
            "transactions",
            "2.2.0",
            "O(1)",
            "Forget about all watched keys",
        ),
];

const CLIENT_FLAGS: &[&str] = &["noscript", "loading", "stale"];
const CLIENT_ACL: &[&str] = &["@slow", "@connection"];

pub static CLIENT_SUBCOMMANDS: [Command; 9] = [
    cmd("client|reply", 3, client::reply)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "3.2.0",
            "O(1)",
            "Instruct the server whether to reply to commands",
        )
        .args(&[arg("action", "oneof").of(&[tok("ON"), tok("OFF"), tok("SKIP")])]),
    cmd("client|id", 2, client::id)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "5.0.0",
            "O(1)",
            "Returns the client ID for the current connection",
        ),
    cmd("client|setname", 3, client::setname)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "2.6.9",
            "O(1)",
            "Set the current connection name",
        )
        .args(&[arg("connection-name", "string")]),
    cmd("client|getname", 2, client::getname)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "2.6.9",
            "O(1)",
            "Get the current connection name",
        ),
    cmd("client|setinfo", 4, client::setinfo)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "7.2.0",
            "O(1)",
            "Set client or connection specific info",
        )
        .args(&[arg("attr", "oneof").of(&[
            arg("libname", "string").token("LIB-NAME"),
            arg("libver", "string").token("LIB-VER"),
        ])]),
    cmd("client|list", -2, client::list)
        .tips(&["nondeterministic_output"])
        .flags(CLIENT_FLAGS)
        .acl(&["@admin", "@slow", "@dangerous", "@connection"])
        .doc(
            "connection",
            "2.4.0",
            "O(N) where N is the number of client connections",
            "Get the list of client connections",
        ),
    cmd("client|info", 2, client::info)
        .tips(&["nondeterministic_output"])
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "6.2.0",
            "O(1)",
            "Returns information about the current client connection.",
        ),
    cmd("client|kill", -3, client::kill)
        .flags(&["admin", "noscript", "loading", "stale"])
        .acl(&["@admin", "@slow", "@dangerous", "@connection"])
        .doc(
            "connection",
            "2.4.0",
            "O(N) where N is the number of client connections",
            "Kill the connection of a client",
        ),
    cmd("client|help", 2, client::help)
        .flags(&["loading", "stale"])
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "5.0.0",
            "O(1)",
            "Show helpful text about the different subcommands",
        ),
];

pub static OBJECT_SUBCOMMANDS: [Command; 2] = [
    cmd("object|encoding", 3, keys::object_encoding)
        .tips(&["nondeterministic_output"])
        .flags(&["readonly"])
        .keys(2, 2, 1, &[ks(&["RO"], 2, 0, 1)])
        .acl(&["@keyspace", "@read", "@slow"])
        .doc(
            "generic",
            "2.2.3",
            "O(1)",
            "Inspect the internal encoding of a Redis object",
        )
        .args(&[arg("key", "key")]),
    cmd("object|help", 2, keys::object_help)
        .flags(&["loading", "stale"])
        .acl(&["@keyspace", "@slow"])
        .doc(
            "generic",
            "6.2.0",
            "O(1)",
            "Show helpful text about the different subcommands",
        ),
];

pub static XGROUP_SUBCOMMANDS: [Command; 6] = [
    cmd("xgroup|create", -5, groups::xgroup_create)
        .flags(&["write", "denyoom"])
        .keys(2, 2, 1, &[ks(&["RW", "insert"], 2, 0, 1)])
        .acl(&["@write", "@stream", "@slow"])
        .doc("stream", "5.0.0", "O(1)", "Create a consumer group.")
        .history(&[("7.0.0", "Added the `entries_read` named argument.")])
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("id-selector", "oneof")
                .of(&[arg("id", "string"), arg("new-id", "pure-token").token("$")]),
            tok("MKSTREAM").opt(),
            arg("entries-read", "integer").token("ENTRIESREAD").opt(),
        ]),
    cmd("xgroup|setid", -5, groups::xgroup_setid)
        .flags(&["write"])
        .keys(2, 2, 1, &[ks(&["RW", "update"], 2, 0, 1)])
        .acl(&["@write", "@stream", "@slow"])
        .doc(
            "stream",
            "5.0.0",
            "O(1)",
            "Set a consumer group to an arbitrary last delivered ID value.",
        )
        .history(&[("7.0.0", "Added the optional `entries_read` argument.")])
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("id-selector", "oneof")
                .of(&[arg("id", "string"), arg("new-id", "pure-token").token("$")]),
            arg("entriesread", "integer").token("ENTRIESREAD").opt(),
        ]),
    cmd("xgroup|destroy", 4, groups::xgroup_destroy)
        .flags(&["write"])
        .keys(2, 2, 1, &[ks(&["RW", "delete"], 2, 0, 1)])
        .acl(&["@write", "@stream", "@slow"])
        .doc(
            "stream",
            "5.0.0",
            "O(N) where N is the number of entries in the group's pending entries list (PEL).",
            "Destroy a consumer group.",
        )
        .args(&[arg("key", "key"), arg("group", "string")]),
    cmd("xgroup|createconsumer", 5, groups::xgroup_createconsumer)
        .flags(&["write", "denyoom"])
        .keys(2, 2, 1, &[ks(&["RW", "insert"], 2, 0, 1)])
        .acl(&["@write", "@stream", "@slow"])
        .doc(
            "stream",
            "6.2.0",
            "O(1)",
            "Create a consumer in a consumer group.",
        )
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("consumer", "string"),
        ]),
    cmd("xgroup|delconsumer", 5, groups::xgroup_delconsumer)
        .flags(&["write"])
        .keys(2, 2, 1, &[ks(&["RW", "delete"], 2, 0, 1)])
        .acl(&["@write", "@stream", "@slow"])
        .doc(
            "stream",
            "5.0.0",
            "O(1)",
            "Delete a consumer from a consumer group.",
        )
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("consumer", "string"),
        ]),
    cmd("xgroup|help", 2, groups::xgroup_help)
        .flags(&["loading", "stale"])
        .acl(&["@stream", "@slow"])
        .doc(
            "stream",
            "5.0.0",
            "O(1)",
            "Show helpful text about the different subcommands",
        ),
];

pub static XINFO_SUBCOMMANDS: [Command; 4] = [
    cmd("xinfo|groups", 3, groups::xinfo_groups)
        .flags(&["readonly"])
        .keys(2, 2, 1, &[ks(&["RO", "access"], 2, 0, 1)])
        .acl(&["@read", "@stream", "@slow"])
        .doc("stream", "5.0.0", "O(1)", "List the consumer groups of a stream")
        .history(&[("7.0.0", "Added the `entries-read` and `lag` fields")])
        .args(&[arg("key", "key")]),
    cmd("xinfo|consumers", 4, groups::xinfo_consumers)
        .flags(&["readonly"])
        .keys(2, 2, 1, &[ks(&["RO", "access"], 2, 0, 1)])
        .acl(&["@read", "@stream", "@slow"])
        .tips(&["nondeterministic_output"])
        .doc("stream", "5.0.0", "O(1)", "List the consumers in a consumer group")
        .args(&[arg("key", "key"), arg("group", "string")]),
    cmd("xinfo|stream", -3, streams::xinfo_stream)
        .flags(&["readonly"])
        .keys(2, 2, 1, &[ks(&["RO", "access"], 2, 0, 1)])
        .acl(&["@read", "@stream", "@slow"])
        .doc("stream", "5.0.0", "O(1)", "Get information about a stream")
        .history(&[
            ("6.0.0", "Added the `FULL` modifier."),
            ("7.0.0", "Added the `max-deleted-entry-id`, `entries-added`, `recorded-first-entry-id`, `entries-read` and `lag` fields"),
        ])
        .args(&[
            arg("key", "key"),
            arg("full-block", "block").token("FULL").opt().of(&[arg("count", "integer").token("COUNT").opt()]),
        ]),
    cmd("xinfo|help", 2, streams::xinfo_help)
        .flags(&["loading", "stale"])
        .acl(&["@stream", "@slow"])
        .doc("stream", "5.0.0", "O(1)", "Show helpful text about the different subcommands"),
];

const CONFIG_FLAGS: &[&str] = &["admin", "noscript", "loading", "stale"];
const CONFIG_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

pub static CONFIG_SUBCOMMANDS: [Command; 4] = [
    cmd("config|get", -3, config_cmd::get)
        .flags(CONFIG_FLAGS)
        .acl(CONFIG_ACL)
        .doc(
            "server",
            "2.0.0",
            "O(N) when N is the number of configuration parameters provided",
            "Get the values of configuration parameters",
        )
        .args(&[arg("parameter", "string").many()]),
    cmd("config|set", -4, config_cmd::set)
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"])
        .flags(&["admin", "noscript", "loading", "stale"])
        .acl(CONFIG_ACL)
        .doc(
            "server",
            "2.0.0",
            "O(N) when N is the number of configuration parameters provided",
            "Set configuration parameters to the given values",
        )
        .args(&[arg("data", "block")
            .many()
            .of(&[arg("parameter", "string"), arg("value", "string")])]),
    cmd("config|resetstat", 2, config_cmd::resetstat)
        .flags(CONFIG_FLAGS)
        .acl(CONFIG_ACL)
        .doc(
            "server",
            "2.0.0",
            "O(1)",
            "Reset the stats returned by INFO",
        ),
    cmd("config|help", 2, config_cmd::help)
        .flags(&["loading", "stale"])
        .acl(&["@slow"])
        .doc(
            "server",
            "5.0.0",
            "O(1)",
            "Show helpful text about the different subcommands",
        ),
];

pub static COMMAND_SUBCOMMANDS: [Command; 6] = [
    cmd("command|count", 2, server::command_count)
        .flags(&["loading", "stale"])
        .acl(&["@slow", "@connection"])
        .doc(
            "server",
            "2.8.13",
            "O(1)",
            "Get total number of Redis commands",
        ),
    cmd("command|info", -2, server::command_info)
        .tips(&["nondeterministic_output_order"])
        .flags(&["loading", "stale"])
        .acl(&["@slow", "@connection"])
        .doc(
            "server",
            "2.8.13",
            "O(N) where N is the number of commands to look up",
            "Get array of specific Redis command details, or all when no argument is given.",
        )
        .args(&[arg("command-name", "string").opt().many()]),
    cmd("command|docs", -2, server::command_docs)
        .tips(&["nondeterministic_output_order"])
        .flags(&["loading", "stale"])
        .acl(&["@slow", "@connection"])
        .doc(
            "server",
            "7.0.0",
            "O(N) where N is the number of commands to look up",
            "Get array of specific Redis command documentation",
        )
        .args(&[arg("command-name", "string").opt().many()]),
    cmd("command|list", -2, server::command_list)
        .tips(&["nondeterministic_output_order"])
        .flags(&["loading", "stale"])
        .acl(&["@slow", "@connection"])
        .doc(
            "server",
            "7.0.0",
            "O(N) where N is the total number of Redis commands",
            "Get an array of Redis command names",
        ),
    cmd("command|getkeys", -4, server::command_getkeys)
        .flags(&["loading", "stale"])
        .acl(&["@slow", "@connection"])
        .doc(
            "server",
            "2.8.13",
            "O(N) where N is the number of arguments to the command",
            "Extract keys given a full Redis command",
        ),
    cmd("command|help", 2, server::command_help)
        .flags(&["loading", "stale"])
        .acl(&["@slow", "@connection"])
        .doc(
            "server",
            "5.0.0",
            "O(1)",
            "Show helpful text about the different subcommands",
        ),
];

fn index() -> &'static HashMap<String, &'static Command> {
    static INDEX: OnceLock<HashMap<String, &'static Command>> = OnceLock::new();
    INDEX.get_or_init(|| {
        COMMANDS
            .iter()
            .chain(jobs::COMMANDS)
            .map(|c| (c.name.to_string(), c))
            .collect()
    })
}

/// The command named `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    if name.len() > 32 {
        return None;
    }
    // Lower-case into a stack buffer: every command goes through here.
    let mut buf = [0u8; 32];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    index().get(std::str::from_utf8(lower).ok()?).copied()
}

/// Every top-level command.
pub fn all() -> &'static [Command] {
    COMMANDS
}

/// Redis's HELP reply: a header line, the lines, and the HELP entry, all status replies.
pub fn help_reply(ctx: &mut Ctx<'_>, cmd: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

/// The arguments of a command as `COMMAND GETKEYS` and the key checks see them.
pub fn keys_of(cmd: &Command, argv: &[Bytes]) -> Vec<Bytes> {
    cmd.key_indices(argv.len())
        .map(|i| argv[i].clone())
        .collect()
}

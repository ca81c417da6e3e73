//! Redis 7 functions: FUNCTION LOAD/DELETE/FLUSH/LIST/STATS/KILL/HELP, FCALL, FCALL_RO,
//! `redis.register_function` and its errors. Libraries are server-wide, so the cases run one at
//! a time, each starting with FUNCTION FLUSH. (FUNCTION DUMP's payload differs by design: see
//! `server/src/commands/functions.rs`; its round trip is checked by shape.)

use redis_compat_tests::*;

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let lib = "FUNCTION LOAD \"#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return {keys[1], args[1]} end)\nredis.register_function{function_name='ro', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}\"";
    vec![
        case("function_load_fcall", &["FUNCTION FLUSH", lib, "FCALL myfunc 1 k a", "FCALL_RO myfunc 1 k a", "FCALL_RO ro 1 k", "SET k v", "FCALL ro 1 k", "FCALL nosuch 0", lib, "FCALL", "FCALL myfunc x", "FCALL myfunc 3 a", "FCALL myfunc -1", "FCALL nosuch x", "FCALL nosuch 3 a", "FCALL_RO nosuch -1", "DEL k"]),
        case("function_load_errors", &["FUNCTION FLUSH", "FUNCTION LOAD \"return 1\"", "FUNCTION LOAD \"#!lua\nreturn 1\"", "FUNCTION LOAD \"#!lua name=bad-name\nreturn 1\"", "FUNCTION LOAD \"#!lua name=l2\nreturn 1\"", "FUNCTION LOAD \"#!lua name=l2 foo=bar\nreturn 1\"", "FUNCTION LOAD \"#!lua name=l5\nredis.call('ping')\"", "FUNCTION LOAD \"#!lua name=l6\nx = 1\"", "FUNCTION LOAD \"#!lua name=l7\nreturn (\"", "FUNCTION LOAD", "FUNCTION LOAD replace", "FUNCTION LOAD replace x y", "FUNCTION LOAD \"]8\n\" NOACK x", "FUNCTION LIST"]),
        case("register_function_errors", &["FUNCTION FLUSH",
            "FUNCTION LOAD \"#!lua name=z1\nredis.register_function{function_name='fd', callback=function() end, foo=1}\"",
            "FUNCTION LOAD \"#!lua name=z2\nredis.register_function{callback=function() end}\"",
            "FUNCTION LOAD \"#!lua name=z3\nredis.register_function{function_name='fd'}\"",
            "FUNCTION LOAD \"#!lua name=z4\nredis.register_function('fd', 1)\"",
            "FUNCTION LOAD \"#!lua name=z5\nredis.register_function('fd', function() end, 3)\"",
            "FUNCTION LOAD \"#!lua name=z6\nredis.register_function{function_name='fd', callback=function() end, flags='no-writes'}\"",
            "FUNCTION LOAD \"#!lua name=z8\nredis.register_function()\"",
            "FUNCTION LOAD \"#!lua name=z9\nredis.register_function{function_name='fd', callback=function() end, flags={1}}\"",
            "FUNCTION LOAD \"#!lua name=z10\nredis.register_function{function_name='fd', callback=function() end, description={}}\"",
            "FUNCTION LOAD \"#!lua name=z11\nredis.register_function('', function() end)\"",
            "FUNCTION LOAD \"#!lua name=z12\nredis.register_function('f-x', function() end)\"",
            "FUNCTION LOAD \"#!lua name=z13\nredis.register_function('f9')\"",
            "FUNCTION LOAD \"#!lua name=z14\nredis.register_function('fe', function() return 1 end)\nredis.register_function('fe', function() return 2 end)\"",
            "FUNCTION LIST"]),
        case("function_replace_and_collisions", &["FUNCTION FLUSH", "FUNCTION LOAD \"#!lua name=a\nredis.register_function('fa', function() return 'a' end)\"", "FUNCTION LOAD \"#!lua name=a\nredis.register_function('fa2', function() return 'a2' end)\"", "FUNCTION LOAD REPLACE \"#!lua name=a\nredis.register_function('fa2', function() return 'replaced' end)\"", "FCALL fa2 0", "FCALL fa 0", "FUNCTION LOAD \"#!lua name=b\nredis.register_function('fa2', function() end)\"", "FUNCTION LIST"]),
        case("function_runtime", &["FUNCTION FLUSH",
            "FUNCTION LOAD \"#!lua name=b\nlocal function f(keys, args) return #keys .. ':' .. #args end\nredis.register_function('fb', f)\"", "FCALL fb 2 k1 k2 a",
            "FUNCTION LOAD \"#!lua name=g\nlocal function helper() return type(redis.call) end\nredis.register_function('fg', function() return helper() end)\"", "FCALL fg 0",
            "FUNCTION LOAD \"#!lua name=h\nredis.register_function('fh', function(k) return redis.call('set', 'x') end)\"", "FCALL fh 0",
            "FUNCTION LOAD \"#!lua name=k\nredis.register_function('fk', function() return KEYS end)\"", "FCALL fk 0",
            "FUNCTION LOAD \"#!lua name=e\nredis.register_function{function_name='fe', callback=function() error('boom') end}\"", "FCALL fe 0",
            "FUNCTION LOAD \"#!lua name=w\nredis.register_function{function_name='fw', callback=function(k) return redis.call('set', k[1], 'v') end, flags={'no-writes'}}\"", "FCALL fw 1 {k}", "FCALL_RO fw 1 {k}",
            "FUNCTION LOAD \"#!lua name=l\nredis.log(redis.LOG_WARNING, 'loading l')\nredis.register_function('fl', function() return redis.setresp end)\nreturn 5\"", "FCALL fl 0"]),
        case("function_list_filters", &["FUNCTION FLUSH", lib, "FUNCTION LOAD \"#!lua name=other\nredis.register_function('o', function() return 1 end)\"", "FUNCTION LIST LIBRARYNAME other", "FUNCTION LIST WITHCODE LIBRARYNAME oth*", "FUNCTION LIST LIBRARYNAME nomatch", "FUNCTION LIST LIBRARYNAME", "FUNCTION LIST WITHCODE WITHCODE", "FUNCTION LIST foo", "FUNCTION LIST \"Yu\n\" x"]),
        case("function_delete_flush", &["FUNCTION FLUSH", lib, "FUNCTION DELETE nosuch", "FUNCTION DELETE mylib", "FCALL myfunc 0", "FUNCTION LIST", lib, "FUNCTION FLUSH x", "FUNCTION FLUSH SYNC x", "function flush a b c", "FUNCTION FLUSH SYNC", "FUNCTION LIST", lib, "FUNCTION FLUSH ASYNC", "FUNCTION STATS"]),
        case("function_stats_kill_help", &["FUNCTION FLUSH", "FUNCTION STATS", lib, "FUNCTION STATS", "FUNCTION STATS x", "FUNCTION KILL", "FUNCTION HELP", "FUNCTION DUMP x", "FUNCTION RESTORE", "FUNCTION RESTORE bad", "FUNCTION RESTORE bad x", "function restore bad x y", "FUNCTION RESTORE bad FLUSH", "FUNCTION nosuch"]),
        // A library whose code never ends: Redis stops it after 500 ms.
        case("function_load_timeout", &["FUNCTION FLUSH", "FUNCTION LOAD \"#!lua name=inf\nwhile true do end\"", "PING", "FUNCTION LIST"]),
        case("function_in_multi", &["FUNCTION FLUSH", "FUNCTION LOAD \"#!lua name=m\nredis.register_function('incr2', function(k) redis.call('incr', k[1]) return redis.call('incr', k[1]) end)\"", "MULTI", "FCALL incr2 1 {k}", "FCALL incr2 1 {k}", "EXEC", "DEL {k}"]),
    ]
}

fn main() {
    run_isolated(cases());
}

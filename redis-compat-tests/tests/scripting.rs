//! Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT; the `redis` library, the
//! Lua ↔ RESP conversions in both protocols (and under `redis.setresp(3)`), the sandbox, and
//! the error texts of Redis 7.0.15 (which name the script's SHA and line).

use redis_compat_tests::*;

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // Return values
        case("eval_return_types", &[r#"EVAL "return 1" 0"#, r#"EVAL "return 'a'" 0"#, r#"EVAL "return 3.99" 0"#, r#"EVAL "return -3.99" 0"#, r#"EVAL "return true" 0"#, r#"EVAL "return false" 0"#, r#"EVAL "return nil" 0"#, r#"EVAL "return" 0"#, r#"EVAL "return {}" 0"#]),
        case("eval_return_tables", &[r#"EVAL "return {1,2,3.7,nil,4}" 0"#, r#"EVAL "return {1,{2,{3,'x'}},true,false}" 0"#, r#"EVAL "return {ok='fine'}" 0"#, r#"EVAL "return {err='bad'}" 0"#, r#"EVAL "return {err='WRONG code'}" 0"#, r#"EVAL "return {err=''}" 0"#, r#"EVAL "return {ok='a\r\nb'}" 0"#, r#"EVAL "return {err='x\ny\n'}" 0"#, r#"EVAL "return {x=1}" 0"#, r#"EVAL "return {1, x=2, 3}" 0"#]),
        case("eval_return_numbers", &[r#"EVAL "return 1e300" 0"#, r#"EVAL "return -1e300" 0"#, r#"EVAL "return 0/0" 0"#, r#"EVAL "return 9007199254740993" 0"#, r#"EVAL "return tostring(1/3)" 0"#]),
        case("eval_keys_argv", &[r#"EVAL "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}" 2 {k}a {k}b x y"#, r#"EVAL "return ARGV" 0 a b c"#, r#"EVAL "return KEYS" 3 a b c"#]),
        case("eval_numkeys_errors", &[r#"EVAL "return 1" -1"#, r#"EVAL "return 1" 2 a"#, r#"EVAL "return 1" x"#, r#"EVAL "return 1" 1"#, "EVAL", r#"EVAL "return 1""#]),
        // redis.call / redis.pcall and what they return
        case("call_set_get", &[r#"EVAL "redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])" 1 {k} hello"#, r#"EVAL "return redis.call('get', KEYS[1])" 1 {k}missing"#, r#"EVAL "return redis.call('set', KEYS[1], 'v')" 1 {k}"#, r#"EVAL "return redis.call('incr', KEYS[1])" 1 {k}n"#, r#"EVAL "return redis.call('del', KEYS[1], KEYS[2])" 2 {k} {k}n"#]),
        case("call_reply_types_in_lua", &[r#"EVAL "local r = redis.call('set', KEYS[1], 'v') return type(r) .. ':' .. r.ok" 1 {k}"#, r#"EVAL "local r = redis.call('get', KEYS[1]..'x') return type(r) .. ':' .. tostring(r)" 1 {k}"#, r#"EVAL "return type(redis.call('incr', KEYS[1]..'n'))" 1 {k}"#, r#"EVAL "return redis.call('mget', KEYS[1], KEYS[1]..'x', KEYS[1])" 1 {k}"#, "DEL {k} {k}n"]),
        case("call_number_args", &[r#"EVAL "redis.call('set', KEYS[1], 0.1) return redis.call('get', KEYS[1])" 1 {k}"#, r#"EVAL "redis.call('set', KEYS[1], 3) return redis.call('get', KEYS[1])" 1 {k}"#, r#"EVAL "redis.call('set', KEYS[1], 1e20) return redis.call('get', KEYS[1])" 1 {k}"#, r#"EVAL "redis.call('set', KEYS[1], -2.5) return redis.call('get', KEYS[1])" 1 {k}"#, "DEL {k}"]),
        case("call_errors", &[r#"EVAL "return redis.call('nosuch')" 0"#, r#"EVAL "return redis.call('set', 'a')" 0"#, r#"EVAL "return redis.call()" 0"#, r#"EVAL "return redis.call('set', {k}, {})" 0"#, r#"EVAL "return redis.call('get', nil)" 0"#, r#"EVAL "return redis.call('multi')" 0"#, r#"EVAL "return redis.call('eval', 'return 1', '0')" 0"#, r#"EVAL "return redis.call('client', 'nosuch')" 0"#]),
        case("call_error_reply_raised", &["SET {k} notanumber", r#"EVAL "return redis.call('incr', KEYS[1])" 1 {k}"#, r#"EVAL "local x = 1
return redis.call('incr', KEYS[1])" 1 {k}"#, "DEL {k}"]),
        case("pcall_errors", &["SET {k} notanumber", r#"EVAL "return redis.pcall('incr', KEYS[1])" 1 {k}"#, r#"EVAL "local r = redis.pcall('incr', KEYS[1]) return r.err" 1 {k}"#, r#"EVAL "return redis.pcall('nosuch')" 0"#, r#"EVAL "return redis.pcall()" 0"#, r#"EVAL "return redis.pcall('set', 'a')" 0"#, "DEL {k}"]),
        case("call_blocking_refused", &[r#"EVAL "return redis.call('xread', 'block', '0', 'streams', KEYS[1], '$')" 1 {k}"#, r#"EVAL "return redis.call('xread', 'streams', KEYS[1], '0')" 1 {k}"#]),
        case("call_xadd_xrange", &[r#"EVAL "redis.call('xadd', KEYS[1], '1-1', 'f', 'v') return redis.call('xrange', KEYS[1], '-', '+')" 1 {k}"#, r#"EVAL "return redis.call('xlen', KEYS[1])" 1 {k}"#, "DEL {k}"]),
        // Script errors
        case("script_runtime_errors", &[r#"EVAL "return x" 0"#, r#"EVAL "x = 1" 0"#, r#"EVAL "error('boom')" 0"#, r#"EVAL "error({err='MY boom'})" 0"#, r#"EVAL "error({err='no code'})" 0"#, r#"EVAL "local t = nil; return t.x" 0"#, r#"EVAL "return 1 + {}" 0"#, r#"EVAL "
error('line three')" 0"#]),
        case("script_compile_errors", &[r#"EVAL "return (" 0"#, r#"EVAL "retur 1" 0"#, r#"EVAL "return 'unfinished" 0"#]),
        case("sandbox_globals", &[r#"EVAL "return type(os)" 0"#, r#"EVAL "return type(io)" 0"#, r#"EVAL "return type(debug)" 0"#, r#"EVAL "return type(loadfile)" 0"#, r#"EVAL "return type(dofile)" 0"#, r#"EVAL "return type(print)" 0"#, r#"EVAL "return type(require)" 0"#, r#"EVAL "return type(setfenv)" 0"#, r#"EVAL "return type(loadstring)" 0"#, r#"EVAL "return type(coroutine)" 0"#, r#"EVAL "return type(_G)" 0"#, r#"EVAL "return _G.x" 0"#]),
        case("sandbox_readonly", &[r#"EVAL "redis.foo = 1" 0"#, r#"EVAL "string.foo = 1" 0"#, r#"EVAL "math.random = nil" 0"#, r#"EVAL "rawset(_G, 'x', 1)" 0"#, r#"EVAL "_G.y = 1" 0"#, r#"EVAL "local t = {} t.a = 1 return t.a" 0"#]),
        case("sandbox_string_metatable", &[r#"EVAL "getmetatable('').__index = nil" 0"#, r#"EVAL "getmetatable('').__index.upper = nil" 0"#, r#"EVAL "return ('abc'):upper()" 0"#, r#"EVAL "return getmetatable('').__index.upper('x')" 0"#]),
        case("sandbox_loadstring", &[r#"EVAL "return loadstring('return 7')()" 0"#, r#"EVAL "local f = loadstring('z = 1') f()" 0"#]),
        // Redis 7.0 never reseeds math.random between scripts (one sequence per process), so a
        // case reseeds first to be independent of the other cases.
        case("math_random_seeded", &[r#"EVAL "math.randomseed(7) return {math.random(10), math.random(5,9), tostring(math.random())}" 0"#, r#"EVAL "math.randomseed(42) local t = {} for i=1,5 do t[i] = math.random(1000) end return t" 0"#, r#"EVAL "math.randomseed(-3) return tostring(math.random())" 0"#, r#"EVAL "return math.random(0)" 0"#, r#"EVAL "return math.random(3, 1)" 0"#, r#"EVAL "return math.random('x')" 0"#, r#"EVAL "return math.random(1, 2, 3)" 0"#, r#"~EVAL "return math.random(10)" 0"#]),
        // The redis library
        case("redis_error_status_reply", &[r#"EVAL "return redis.error_reply('X y')" 0"#, r#"EVAL "return redis.error_reply('boom')" 0"#, r#"EVAL "return redis.error_reply('-X y')" 0"#, r#"EVAL "return redis.error_reply()" 0"#, r#"EVAL "return redis.error_reply(1)" 0"#, r#"EVAL "return redis.status_reply('OK2')" 0"#, r#"EVAL "return redis.status_reply('a\r\nb')" 0"#, r#"EVAL "return redis.error_reply('E1 a\nb\r\n')" 0"#, r#"EVAL "return redis.status_reply('a b\r\n')" 0"#, r#"EVAL "return redis.status_reply()" 0"#, r#"EVAL "return redis.error_reply('X y').err" 0"#]),
        case("redis_sha1hex", &[r#"EVAL "return redis.sha1hex('')" 0"#, r#"EVAL "return redis.sha1hex('abc')" 0"#, r#"EVAL "return redis.sha1hex(12)" 0"#, r#"EVAL "return redis.sha1hex()" 0"#]),
        // The harness starts Sluice with `--redis-version 7.0.15` (its default, 8.10.0, is
        // checked in server/tests/config_file.rs).
        case("redis_version", &[r#"EVAL "return redis.REDIS_VERSION" 0"#, r#"EVAL "return redis.REDIS_VERSION_NUM" 0"#]),
        case("redis_log", &[r#"EVAL "return redis.log(redis.LOG_WARNING, 'hi from a test')" 0"#, r#"EVAL "return redis.log(redis.LOG_DEBUG, 'a', 'b', 3)" 0"#, r#"EVAL "return redis.log(99, 'x')" 0"#, r#"EVAL "return redis.log(1)" 0"#, r#"EVAL "return redis.log('x', 'y')" 0"#, r#"EVAL "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}" 0"#]),
        case("redis_set_repl", &[r#"EVAL "return redis.set_repl(redis.REPL_ALL)" 0"#, r#"EVAL "return redis.set_repl(99)" 0"#, r#"EVAL "return redis.set_repl()" 0"#, r#"EVAL "return redis.replicate_commands()" 0"#, r#"EVAL "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}" 0"#]),
        case("redis_setresp_errors", &[r#"EVAL "return redis.setresp(4)" 0"#, r#"EVAL "return redis.setresp()" 0"#]),
        case("setresp3_conversions", &[r#"EVAL "redis.setresp(3) return redis.call('get', 'nosuch:{k}')" 0"#, r#"EVAL "redis.setresp(3) return true" 0"#, r#"EVAL "redis.setresp(3) return false" 0"#, r#"EVAL "redis.setresp(3) return {double=3.5}" 0"#, r#"EVAL "return {double=3.5}" 0"#, r#"EVAL "return {double=1/3}" 0"#, r#"EVAL "return {big_number='12345678901234567890'}" 0"#, r#"EVAL "return {map={a=1}}" 0"#, r#"EVAL "return {set={a=true}}" 0"#, r#"EVAL "return {verbatim_string={format='txt', string='hello'}}" 0"#]),
        case("setresp3_call_types", &[r#"EVAL "redis.setresp(3) local r = redis.call('get', 'nosuch:{k}') return type(r)" 0"#, r#"EVAL "redis.setresp(2) local r = redis.call('get', 'nosuch:{k}') return type(r)" 0"#]),
        // The libraries Redis ships: cjson, cmsgpack, bit
        case("cjson_encode", &[r#"EVAL "return cjson.encode({})" 0"#, r#"EVAL "return cjson.encode({1,2,3})" 0"#, r#"EVAL "return cjson.encode({a=1})" 0"#, r#"EVAL "return cjson.encode({1.5, 0.1, 1/3, 1e20, 123456789012345, -2.5e-7})" 0"#, r#"EVAL "return cjson.encode('a/b\"c\\\n\t\1')" 0"#, r#"EVAL "return cjson.encode(string.char(127, 128, 8, 12, 31))" 0"#, r#"EVAL "return cjson.encode({[1]=1,[3]=3})" 0"#, r#"EVAL "return cjson.encode({[1]=1,[2]=2,[5]=5})" 0"#, r#"EVAL "return cjson.encode(true)" 0"#, r#"EVAL "return cjson.encode(cjson.null)" 0"#, r#"EVAL "return cjson.encode({a={b={}}})" 0"#, r#"EVAL "return cjson.encode({['1']=1})" 0"#, r#"EVAL "return cjson.encode({1,'x',{}})" 0"#, r#"EVAL "return cjson.encode(12345678901234567890)" 0"#, r#"EVAL "return cjson.encode(0.1+0.2)" 0"#, r#"EVAL "return cjson.encode({1, nil, 3})" 0"#, r#"EVAL "return cjson.encode({[1.5]=1})" 0"#, r#"EVAL "return cjson.encode({[2]=1})" 0"#]),
        case("cjson_encode_errors", &[r#"EVAL "return cjson.encode({[1]=1,[20]=2})" 0"#, r#"EVAL "return cjson.encode(1/0)" 0"#, r#"EVAL "return cjson.encode(function() end)" 0"#, r#"EVAL "return cjson.encode({[true]=1})" 0"#, r#"EVAL "return cjson.encode()" 0"#, r#"EVAL "local t = {} local c = t for i=1,1001 do c[1] = {} c = c[1] end return cjson.encode(t)" 0"#]),
        case("cjson_decode", &[r#"EVAL "local t = cjson.decode('{\"a\":[1,2,{\"b\":null}],\"c\":\"x\\\\u00e9\"}') return {t.a[1], t.a[3].b == cjson.null, t.c}" 0"#, r#"EVAL "return cjson.decode('1.5')" 0"#, r#"EVAL "return cjson.decode('\"x\"')" 0"#, r#"EVAL "return type(cjson.decode('{}'))" 0"#, r#"EVAL "return cjson.encode(cjson.decode('{\"a\":1.25e2}'))" 0"#, r#"EVAL "return cjson.decode('01')" 0"#, r#"EVAL "return cjson.decode(' [ true , false , null ] ')" 0"#, r#"EVAL "return cjson.decode('\"\\\\ud83d\\\\ude00 \\\\/ \\\\n\"')" 0"#]),
        case("cjson_decode_errors", &[r#"EVAL "return cjson.decode('[1,2')" 0"#, r#"EVAL "return cjson.decode('{\"a\":1,}')" 0"#, r#"EVAL "return cjson.decode('')" 0"#, r#"EVAL "return cjson.decode('tru')" 0"#, r#"EVAL "return cjson.decode('[1] x')" 0"#, r#"EVAL "return cjson.decode('{\"a\" 1}')" 0"#, r#"EVAL "return cjson.decode('\"\\\\uZZ\"')" 0"#, r#"EVAL "return cjson.decode('-')" 0"#, r#"EVAL "return cjson.decode()" 0"#]),
        case("cmsgpack_pack", &[r#"EVAL "return cmsgpack.pack(1, 'a', {1,2}, {a=1}, true, nil, 1.5, -1, 300, 70000, 2^40)" 0"#, r#"EVAL "return cmsgpack.pack({[1]=1,[3]=3})" 0"#, r#"EVAL "return cmsgpack.pack(string.rep('x', 40))" 0"#, r#"EVAL "return cmsgpack.pack(0.1)" 0"#, r#"EVAL "return cmsgpack.pack(-100, -40000, -3000000000)" 0"#, r#"EVAL "return cmsgpack.pack({})" 0"#, r#"EVAL "return cmsgpack.pack(string.rep('y', 300), false)" 0"#, r#"EVAL "return cmsgpack.pack()" 0"#]),
        case("cmsgpack_unpack", &[r#"EVAL "return {cmsgpack.unpack(cmsgpack.pack(1, 'a', {1,2}, true, 1.5, -1, 300))}" 0"#, r#"EVAL "return cmsgpack.unpack(cmsgpack.pack({a=1}))['a']" 0"#, r#"EVAL "return cmsgpack.unpack(string.char(0x92, 1))" 0"#, r#"EVAL "return {cmsgpack.unpack('')}" 0"#, r#"EVAL "return {cmsgpack.unpack(string.char(0xc1))}" 0"#, r#"EVAL "return {cmsgpack.unpack_one(cmsgpack.pack(7, 8))}" 0"#, r#"EVAL "return {cmsgpack.unpack_limit(cmsgpack.pack(7, 8, 9), 2)}" 0"#]),
        case("bit_ops", &[r#"EVAL "return {bit.tobit(2^32+5), bit.bnot(0), bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.tohex(255), bit.tohex(-1, -4), bit.bxor(5,3), bit.bor(1,2,4), bit.rol(1, 33), bit.bswap(0x12345678), bit.band(0xff, 0x0f), bit.tohex(255, 2), bit.ror(1, 1)}" 0"#, r#"EVAL "return bit.tobit('x')" 0"#, r#"EVAL "return bit.band()" 0"#, r#"EVAL "return bit.tobit('12')" 0"#]),
        case("struct_pack_unpack", &[r#"EVAL "return struct.pack('>I2', 258)" 0"#, r#"EVAL "return {struct.unpack('<i4', struct.pack('<i4', -2))}" 0"#, r#"EVAL "return struct.pack('<bBhHlLi3I8', -1, 255, -2, 65535, -3, 7, -4, 9)" 0"#, r#"EVAL "return {struct.unpack('<bBhHlLi3I8', struct.pack('<bBhHlLi3I8', -1, 255, -2, 65535, -3, 7, -4, 9))}" 0"#, r#"EVAL "return struct.pack('>c3sx', 'abcdef', 'zz')" 0"#, r#"EVAL "return {struct.unpack('>c3sx', struct.pack('>c3sx', 'abcdef', 'zz'))}" 0"#, r#"EVAL "return {struct.unpack('!4bi', struct.pack('!4bi', 1, 2))}" 0"#, r#"EVAL "return struct.pack('!4bi', 1, 2)" 0"#, r#"EVAL "return {struct.unpack('>d', struct.pack('>d', 1.5))}" 0"#, r#"EVAL "return struct.pack('<f', 0.5)" 0"#, r#"EVAL "return {struct.size('>I2bd'), struct.size('!8bd'), struct.size('c5')}" 0"#, r#"EVAL "return {struct.unpack('B c0', struct.pack('B', 3) .. 'xyz')}" 0"#, r#"EVAL "return {struct.unpack('>I2', 'abcd', 3)}" 0"#]),
        case("struct_errors", &[r#"EVAL "return struct.pack('z', 1)" 0"#, r#"EVAL "return struct.pack('i', 'x')" 0"#, r#"EVAL "return struct.pack('c5', 'ab')" 0"#, r#"EVAL "return struct.unpack('i4', 'ab')" 0"#, r#"EVAL "return struct.size('s')" 0"#, r#"EVAL "return struct.size('c0')" 0"#, r#"EVAL "return struct.pack('!3i', 1)" 0"#, r#"EVAL "return struct.pack('i40', 1)" 0"#, r#"EVAL "return struct.unpack('s', 'abc')" 0"#, r#"EVAL "return struct.unpack('c0', 'abc')" 0"#, r#"EVAL "return struct.unpack('b', 'abc', 0)" 0"#, r#"EVAL "return struct.pack()" 0"#]),
        // A BullMQ-style job add: the job's options as msgpack, its data as JSON, an event on a
        // stream with XADD, a counter for the ID; the result read back through cjson.
        case("bullmq_style_add_job", &["EVAL \"local opts = cmsgpack.unpack(ARGV[2])\nlocal id = redis.call('INCR', KEYS[1])\nlocal data = cjson.decode(ARGV[3])\ndata.id = tostring(id)\ndata.attempts = opts.attempts\nredis.call('SET', KEYS[2] .. id, cjson.encode(data))\nredis.call('XADD', KEYS[3], '1-' .. id, 'event', 'added', 'jobId', tostring(id), 'name', ARGV[1])\nreturn {id, redis.call('GET', KEYS[2] .. id), redis.call('XLEN', KEYS[3]), cmsgpack.pack(data.nested)}\" 3 {k}:id {k}:job: {k}:events send-mail \"\\x82\\xa8attempts\\x03\\xa5delay\\x00\" \"{\\\"to\\\":\\\"a@b.c\\\",\\\"nested\\\":{\\\"x\\\":[1,2.5,\\\"y\\\"]}}\"", "XRANGE {k}:events - +", "DEL {k}:id {k}:job:1 {k}:events"]),
        // Script cache
        case("script_load_evalsha", &[r#"SCRIPT LOAD "return 'cached'""#, "EVALSHA 9fa2ae2c4347ba6e84ef22cd7ac4b5b4cc0e17a3 0", "EVALSHA 9FA2AE2C4347BA6E84EF22CD7AC4B5B4CC0E17A3 0", "EVALSHA_RO 9fa2ae2c4347ba6e84ef22cd7ac4b5b4cc0e17a3 0", "SCRIPT EXISTS 9fa2ae2c4347ba6e84ef22cd7ac4b5b4cc0e17a3 9FA2AE2C4347BA6E84EF22CD7AC4B5B4CC0E17A3 nope"]),
        case("evalsha_missing", &["EVALSHA ffffffffffffffffffffffffffffffffffffffff 0", "EVALSHA abc 0", "EVALSHA_RO ffffffffffffffffffffffffffffffffffffffff 0", "EVALSHA ffffffffffffffffffffffffffffffffffffffff -1"]),
        // A SHA that is not 40 bytes is refused before numkeys is read; a 40-byte one after.
        // XREAD/XREADGROUP BLOCK from a script: refused when the option is read (after the
        // options before it, before its value), naming the command as the script wrote it
        case("xread_block_from_script", &[
            r#"EVAL "return redis.pcall('XREAD', 'COUNT', '4', 'BLOCK', '-1', 'STREAMS', KEYS[1], '0')" 1 {k}"#,
            r#"EVAL "return redis.pcall('xread', 'BLOCK', '0', 'STREAMS', KEYS[1], '0')" 1 {k}"#,
            r#"EVAL "return redis.pcall('XreadGroup', 'GROUP', 'g', 'c', 'BLOCK', '0', 'STREAMS', KEYS[1], '>')" 1 {k}"#,
            r#"EVAL "return redis.pcall('XREAD', 'COUNT', 'x', 'BLOCK', '0', 'STREAMS', KEYS[1], '0')" 1 {k}"#,
            r#"EVAL "return redis.call('XREAD', 'BLOCK', '0', 'STREAMS', KEYS[1], '0')" 1 {k}"#,
            "XADD {k}:block 1-1 f v",
            r#"EVAL "return redis.pcall('XREAD', 'STREAMS', KEYS[1], '0')" 1 {k}:block"#,
            "DEL {k}:block",
            r#"EVAL "return redis.pcall('XREAD', 'STREAMS', 'block', '0')" 0"#,
        ]),
        // tables are built as Redis builds them: a RESP3 map's fields come back in Lua's
        // iteration order of a table grown one insertion at a time, and `#` of an array holding
        // a RESP3 null counts as Redis's table does
        case("resp3_tables_grow_as_redis_builds_them", &[
            "XADD {k} 1-1 f v", "XGROUP CREATE {k} g 0", "XREADGROUP GROUP g c STREAMS {k} >",
            r#"EVAL "redis.setresp(3); return redis.call('XINFO', 'GROUPS', KEYS[1])" 1 {k}"#,
            r#"EVAL "redis.setresp(3); return redis.call('XINFO', 'STREAM', KEYS[1])" 1 {k}"#,
            r#"EVAL "redis.setresp(3); return redis.call('XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', KEYS[1], '0')" 1 {k}"#,
            "SET {k}a 1", "SET {k}c 3",
            r#"EVAL "redis.setresp(3); return #redis.call('MGET', KEYS[1], KEYS[2], KEYS[3])" 3 {k}a {k}b {k}c"#,
            r#"EVAL "redis.setresp(3); return #redis.call('MGET', KEYS[1], KEYS[2], KEYS[2], KEYS[3])" 3 {k}a {k}b {k}c"#,
            "DEL {k} {k}a {k}c",
        ]),
        // {double=x}: %.17g of the number itself (-0 keeps its sign)
        case("script_double_values", &[
            r#"EVAL "return {double=-0.0}" 0"#, r#"EVAL "return {double=0}" 0"#, r#"EVAL "return {double=2^53}" 0"#,
            r#"EVAL "return {double=1e300}" 0"#, r#"EVAL "return {double=-1e-300}" 0"#, r#"EVAL "return {double=-1/0}" 0"#,
            r#"EVAL "return {double=0/0}" 0"#, r#"EVAL "return {double=-(0/0)}" 0"#, r#"EVAL "return {double='1.5'}" 0"#,
            r#"EVAL "return {{double=-0.0}, {map={a=-0.0}}}" 0"#,
        ]),
        case("evalsha_short_sha_before_numkeys", &["EVALSHA abc x", "EVALSHA_RO 1-1 y", "EVALSHA abc -1", "EVALSHA abc 5 k", "EVALSHA ffffffffffffffffffffffffffffffffffffffff x", "EVALSHA ffffffffffffffffffffffffffffffffffffffff 5 k"]),
        case("eval_caches_script", &[r#"EVAL "return 'from eval {k}'" 0"#, r#"~SCRIPT EXISTS 0000000000000000000000000000000000000000"#]),
        case("script_errors", &["SCRIPT", "SCRIPT nosuch", "SCRIPT LOAD", "SCRIPT EXISTS", "SCRIPT FLUSH x", "SCRIPT FLUSH a b", "SCRIPT KILL", "SCRIPT KILL x", r#"SCRIPT LOAD "return (""#]),
        case("script_help", &["SCRIPT HELP"]),
        // Read-only scripts and flags
        case("eval_ro_refuses_writes", &[r#"EVAL_RO "return redis.call('set', KEYS[1], 'b')" 1 {k}"#, r#"EVAL_RO "return redis.call('get', KEYS[1])" 1 {k}"#, r#"EVAL_RO "return redis.pcall('set', KEYS[1], 'b')" 1 {k}"#, "EXISTS {k}"]),
        case("shebang_flags", &["EVAL \"#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 'b')\" 1 {k}", "EVAL \"#!lua\nreturn redis.call('get', KEYS[1])\" 1 {k}", "EVAL \"#!luax\nreturn 1\" 0", "EVAL \"#!lua foo=bar\nreturn 1\" 0", "EVAL \"#!lua flags=bad\nreturn 1\" 0", "EVAL \"#!lua\nerror('x')\" 0", "EVAL \"#!lua flags=no-writes,allow-oom\nreturn 1\" 0", "EVAL \"#!lua name=x\nreturn 1\" 0"]),
        // Atomic: in MULTI, and a script's writes next to a reader
        case("eval_in_multi", &["MULTI", r#"EVAL "return redis.call('incr', KEYS[1])" 1 {k}"#, r#"EVAL "return redis.call('incr', KEYS[1])" 1 {k}"#, "EXEC", "GET {k}", "DEL {k}"]),
        case("eval_select_does_not_leak", &[r#"EVAL "redis.call('select', '3') return redis.call('set', KEYS[1], 'in3')" 1 {k}"#, "GET {k}", "SELECT 3", "GET {k}", "DEL {k}", "SELECT 0"]),
        // redis-py's Lock scripts, verbatim
        case("redis_py_lock_release", &["SET {k} tok PX 10000", "EVAL \"local token = redis.call('get', KEYS[1])\nif not token or token ~= ARGV[1] then\n    return 0\nend\nredis.call('del', KEYS[1])\nreturn 1\n\" 1 {k} other", "EVAL \"local token = redis.call('get', KEYS[1])\nif not token or token ~= ARGV[1] then\n    return 0\nend\nredis.call('del', KEYS[1])\nreturn 1\n\" 1 {k} tok", "EXISTS {k}"]),
        case("redis_py_lock_extend", &["SET {k} tok PX 10000", "EVAL \"local token = redis.call('get', KEYS[1])\nif not token or token ~= ARGV[1] then\n    return 0\nend\nlocal expiration = redis.call('pttl', KEYS[1])\nif not expiration then\n    expiration = 0\nend\nif expiration < 0 then\n    return 0\nend\n\nlocal newttl = ARGV[2]\nif ARGV[3] == \\\"0\\\" then\n    newttl = ARGV[2] + expiration\nend\nredis.call('pexpire', KEYS[1], newttl)\nreturn 1\n\" 1 {k} tok 50000 1", "~PTTL {k}", "DEL {k}"]),
    ]
}

fn main() {
    run(cases());
}

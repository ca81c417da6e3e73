-- Sluice's Lua environment, run once when the VM is created (chunk name "=sluice").
-- It builds what Redis 7.0 gives a script: the `redis` table, a deterministic math.random,
-- read-only library tables and globals, and the error handler that turns any error into
-- Redis's {err=…, source=…, line=…} table. Stock Lua 5.1 has no read-only tables (Redis patches
-- its Lua for them), so every protected table is an empty proxy whose metatable forwards reads
-- and refuses writes; rawset refuses proxies too.
local ccall, cpcall, rlog, rsha1, rsetresp, rrand, rsrand, rerrtext, racl, wrap, rkilled, libs, version, version_num = ...
local dbg = debug
local error, type, tostring, tonumber, select, rawget, rawset, setmetatable, xpcall =
  error, type, tostring, tonumber, select, rawget, rawset, setmetatable, xpcall
local floor = math.floor
local loadstring_orig, load_orig, setfenv = loadstring, load, setfenv

local protected = setmetatable({}, { __mode = 'k' })
local function readonly_newindex() error('Attempt to modify a readonly table', 2) end
local function protect(real)
  local proxy = {}
  protected[proxy] = true
  setmetatable(proxy, { __index = real, __newindex = readonly_newindex, __metatable = false })
  return proxy
end

-- Redis's luaPushErrorBuff: "-CODE msg" keeps its code, anything else gets ERR.
local function errbuff(e)
  local code, msg
  if e:sub(1, 1) == '-' then
    local sp = e:find(' ', 1, true)
    if sp then code, msg = e:sub(2, sp - 1), e:sub(sp + 1) else code, msg = 'ERR', e:sub(2) end
  else
    code, msg = 'ERR', e
  end
  msg = msg:gsub('^[\r\n]+', ''):gsub('[\r\n]+$', '')
  return { err = code .. ' ' .. msg }
end

local function raise(msg) error(errbuff(msg)) end

local redis = {}
-- redis.call / redis.pcall are C functions (mod.rs: call_impl), as in Redis.
redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then return errbuff('wrong number or type of arguments') end
  if e:sub(1, 1) ~= '-' then e = '-' .. e end
  return errbuff(e)
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then return errbuff('wrong number or type of arguments') end
  return { ok = s }
end
redis.sha1hex = function(...)
  if select('#', ...) ~= 1 then raise('wrong number of arguments') end
  local s = ...
  if type(s) ~= 'string' and type(s) ~= 'number' then s = '' end
  return rsha1(tostring(s))
end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.log = function(...)
  local n = select('#', ...)
  if n < 2 then raise('redis.log() requires two arguments or more.') end
  local level = tonumber((...))
  if level == nil then raise('First argument must be a number (log level).') end
  if level < 0 or level > 3 then raise('Invalid debug level.') end
  local parts = {}
  for i = 2, n do
    local v = select(i, ...)
    if type(v) == 'string' or type(v) == 'number' then parts[#parts + 1] = tostring(v) end
  end
  rlog(level, table.concat(parts, ' '))
end
redis.setresp = function(...)
  if select('#', ...) ~= 1 then raise('redis.setresp() requires one argument.') end
  local v = tonumber((...)) or 0
  v = v - v % 1
  if v ~= 2 and v ~= 3 then raise('RESP version must be 2 or 3.') end
  rsetresp(v)
end
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.set_repl = function(...)
  if select('#', ...) ~= 1 then raise('redis.set_repl() requires two arguments.') end
  local f = tonumber((...)) or 0
  f = f - f % 1
  if f < 0 or f > 3 then raise('Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.') end
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.acl_check_cmd = function(...)
  if select('#', ...) < 1 then raise('Please specify at least one argument for this redis lib call') end
  local ok = racl(...)
  if not ok then raise('Invalid command passed to redis.acl_check_cmd()') end
  return true
end
redis.REDIS_VERSION = version
redis.REDIS_VERSION_NUM = version_num

-- math.random as Redis's patched lmathlib: rand48, reseeded with 0 before every script.
local function checkint(v, i, fname)
  local n = tonumber(v)
  if n == nil then
    local got = v == nil and 'no value' or type(v)
    -- Level 4: checkint, random, the C trampoline, the script (luaL_argerror's position).
    error("bad argument #" .. i .. " to '" .. fname .. "' (number expected, got " .. got .. ")", 4)
  end
  if n >= 0 then return floor(n) else return -floor(-n) end
end
local math_proxy_real = {}
for k, v in pairs(math) do math_proxy_real[k] = v end
math_proxy_real.random = function(...)
  local n = select('#', ...)
  local r = rrand()
  if n == 0 then return r end
  if n == 1 then
    local u = checkint((...), 1, 'random')
    if u < 1 then error("bad argument #1 to 'random' (interval is empty)", 3) end
    return floor(r * u) + 1
  end
  if n == 2 then
    local l = checkint((...), 1, 'random')
    local u = checkint(select(2, ...), 2, 'random')
    if l > u then error("bad argument #2 to 'random' (interval is empty)", 3) end
    return floor(r * (u - l + 1)) + l
  end
  error('wrong number of arguments', 3)
end
math_proxy_real.randomseed = function(s) rsrand(checkint(s, 1, 'randomseed')) end

-- The error handler: Redis's __redis__err__handler, skipping C frames and this file's frames
-- (the library's Lua functions run behind C trampolines, so a frame of theirs may sit between).
local function handler(err)
  local lvl = 2
  local i = dbg.getinfo(lvl, 'nSl')
  while i and (i.what == 'C' or i.what == 'tail' or i.source == '=sluice') and lvl < 10 do
    lvl = lvl + 1
    i = dbg.getinfo(lvl, 'nSl')
  end
  if type(err) == 'userdata' then
    err = { err = 'ERR ' .. rerrtext(err) }
  elseif type(err) ~= 'table' then
    err = { err = 'ERR ' .. tostring(err) }
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end

-- C closures around the library's functions (see `wrap` in mod.rs).
for k, v in pairs(redis) do
  if type(v) == 'function' then redis[k] = wrap(v) end
end
redis.call, redis.pcall = ccall, cpcall
math_proxy_real.random = wrap(math_proxy_real.random)
math_proxy_real.randomseed = wrap(math_proxy_real.randomseed)

-- cjson, cmsgpack, bit (libs.rs): their errors get the caller's position, as luaL_error's.
local pcall0, unpack0 = pcall, unpack
local function libwrap(f)
  return wrap(function(...)
    local r = { n = select('#', ...) }
    r = { pcall0(f, ...) }
    local n = 0
    for k in pairs(r) do if k > n then n = k end end
    if not r[1] then error(rerrtext(r[2]), 3) end
    return unpack0(r, 2, n)
  end)
end
for _, lib in pairs(libs) do
  for k, v in pairs(lib) do
    if type(v) == 'function' then lib[k] = libwrap(v) end
  end
end

-- The globals a script sees: a read-only proxy over `view`, whose misses are errors.
local view = {}
local G = protect(view)
local view_mt = { __index = function(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end, __metatable = false }
setmetatable(view, view_mt)
for _, name in ipairs({ 'assert', 'collectgarbage', 'error', 'gcinfo', 'getmetatable', 'ipairs',
  'next', 'pairs', 'pcall', 'rawequal', 'rawget', 'select', 'setmetatable', 'tonumber',
  'tostring', 'type', 'unpack', 'xpcall', '_VERSION' }) do
  view[name] = _G[name]
end
-- After SCRIPT KILL the hook raises an error; a script's own pcall must not swallow it
-- (Redis switches its hook to every line for that): re-raise it when a pcall caught it.
local pcall_orig = pcall
local KILLED = { err = 'ERR Script killed by user with SCRIPT KILL...' }
local function after_pcall(ok, ...)
  if not ok and rkilled() then error(KILLED) end
  return ok, ...
end
view.pcall = wrap(function(...) return after_pcall(pcall_orig(...)) end)
view.xpcall = wrap(function(...) return after_pcall(xpcall(...)) end)
view.rawset = function(t, k, v)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return rawset(t, k, v)
end
view.loadstring = function(s, name)
  local f, e = loadstring_orig(s, name)
  if f then setfenv(f, G) end
  return f, e
end
view.load = function(fn, name)
  local f, e = load_orig(fn, name)
  if f then setfenv(f, G) end
  return f, e
end
view._G = G
view.__redis__err__handler = handler
view.redis = protect(redis)
view.math = protect(math_proxy_real)
view.string = protect(string)
view.table = protect(table)
view.coroutine = protect(coroutine)
view.cjson = protect(libs.cjson)
view.cmsgpack = protect(libs.cmsgpack)
view.bit = protect(libs.bit)
view.struct = protect(libs.struct)
-- Strings' methods: through the proxy, so `("").x = …` cannot reach the real table either.
local string_mt = getmetatable('')
string_mt.__index = view.string
-- getmetatable('') gives a read-only view of it, so no script can change strings' methods.
string_mt.__metatable = protect({ __index = view.string })

local function run(f) return xpcall(f, handler) end

-- Redis 7 functions. FCALL calls a registered callback with (KEYS, ARGV) as arguments.
local function run_fn(cb, keys, argv) return xpcall(function() return cb(keys, argv) end, handler) end

-- FUNCTION LOAD runs a library's code in an environment whose `redis` has only what Redis's
-- library API has; redis.register_function collects into `registered`.
local registered = {}
local FLAGS = { ['no-writes'] = true, ['allow-oom'] = true, ['allow-stale'] = true,
  ['no-cluster'] = true, ['allow-cross-slot-keys'] = true }
local function valid_name(n)
  return type(n) == 'string' and #n > 0 and not n:find('[^%w_]')
end
local function register(...)
  local n = select('#', ...)
  local name, cb, flags, desc
  if n == 1 then
    local t = ...
    if type(t) ~= 'table' then
      raise('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
    end
    for k, v in pairs(t) do
      if k == 'function_name' then name = v
      elseif k == 'callback' then cb = v
      elseif k == 'flags' then
        if type(v) ~= 'table' then raise('flags argument to redis.register_function must be a table representing function flags') end
        flags = v
      elseif k == 'description' then
        if type(v) ~= 'string' then raise('description argument given to redis.register_function must be a string') end
        desc = v
      else raise('unknown argument given to redis.register_function') end
    end
    if name == nil then raise('redis.register_function must get a function name argument') end
    if cb == nil then raise('redis.register_function must get a callback argument') end
  elseif n == 2 then
    name, cb = ...
    if type(cb) ~= 'function' then raise('second argument to redis.register_function must be a function') end
  else
    raise('wrong number of arguments to redis.register_function')
  end
  if type(name) == 'number' then name = tostring(name) end
  if not valid_name(name) then
    raise('Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
  end
  local fl = {}
  for _, f in ipairs(flags or {}) do
    if type(f) ~= 'string' or not FLAGS[f] then raise('unknown flag given') end
    fl[#fl + 1] = f
  end
  for _, r in ipairs(registered) do
    if r.name == name then raise('Function already exists in the library') end
  end
  registered[#registered + 1] = { name = name, callback = cb, flags = fl, description = desc }
end
local load_redis = {
  register_function = wrap(register),
  log = redis.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
  setresp = redis.setresp,
}
setmetatable(load_redis, { __index = function(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end })
-- Libraries' globals: a proxy whose reads go to `load_view` while a library loads and to the
-- scripts' globals afterwards (Redis swaps its globals' __index the same way), so functions and
-- their helpers see `redis.call` when they run.
local load_view = {}
for k, v in pairs(view) do load_view[k] = v end
load_view.redis = protect(load_redis)
setmetatable(load_view, view_mt)
local lg_mt = { __index = view, __newindex = readonly_newindex, __metatable = false }
local LG = setmetatable({}, lg_mt)
protected[LG] = true
load_view._G = LG
-- Runs a compiled library chunk (its environment is LG); returns ok, error or registrations.
local function load_lib(chunk)
  registered = {}
  lg_mt.__index = load_view
  local ok, err = xpcall(chunk, handler)
  lg_mt.__index = view
  local r = registered
  registered = {}
  if not ok then return false, err end
  return true, r
end
return G, view, run, run_fn, load_lib, LG

//! Lua scripting with Redis 7.0's semantics: the Lua 5.1 VM and its sandbox, the script cache,
//! running a script (EVAL, EVALSHA, their `_RO` forms) as one atomic unit, `redis.call` into
//! the command table, and the bounds (time: BUSY and SCRIPT KILL; heap; script size).
//!
//! * The VM is mlua over a vendored PUC Lua 5.1 (what Redis embeds), created on first use on
//!   the engine thread and kept for the server's life. [`prelude.lua`] builds the environment
//!   Redis gives a script; [`convert`] the Lua ↔ RESP conversions; [`busy`] serving the other
//!   clients while a script runs past `busy-reply-threshold`.
//! * A script runs inside the command that started it: its `redis.call`s go through the same
//!   dispatch as a client's commands (`engine::call`) with a reply writer of the script's
//!   protocol (`redis.setresp`), whose bytes are converted into Lua values as Redis does. The
//!   whole script is one atomic section of the store (like EXEC), so its writes reach the
//!   journal in one batch with the rest of the drain, or not at all.
//! * Callbacks and the hook reach the running command's `Ctx` through [`RUN`], a thread-local
//!   set only while a script runs on the engine thread. Invariant: `RUN` is `Some` exactly
//!   between [`Scripting::run`]'s entry into Lua and its return, and the `Ctx` it points to
//!   is not touched by `run` meanwhile.

pub mod busy;
mod convert;
mod libs;
mod rand48;
mod raw;

use std::cell::RefCell;
use std::time::{Duration, Instant};

use ahash::AHashMap as HashMap;
use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use sluice_resp::{Protocol, ReplyWriter};

use crate::engine::{self, Ctx};
use crate::reply::{CmdResult, ReplyError};

/// How long a library's code may run while it loads (Redis's `LOAD_TIMEOUT_MS`).
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

/// Instructions between two calls of the hook that watches a running script's time.
const HOOK_EVERY: u32 = 10_000;

/// Script flags (the `#!lua flags=…` shebang, or a function's flags).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Flags {
    /// The script declared flags (a shebang): without one it is a legacy script.
    pub declared: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot: bool,
}

/// One cached script: its body and compiled function.
struct Script {
    func: Function,
    flags: Flags,
}

/// The VM and what was built in it once.
struct Vm {
    lua: Lua,
    /// The globals table scripts see (a read-only proxy).
    env: Table,
    /// The table behind it, where KEYS and ARGV are set.
    view: Table,
    /// `xpcall(f, handler)`.
    runner: Function,
    /// `xpcall(function() return cb(keys, argv) end, handler)` (FCALL).
    run_fn: Function,
    /// Runs a library chunk with the library API (FUNCTION LOAD).
    load_lib: Function,
    /// The libraries' globals (see the prelude).
    lib_env: Table,
}

/// A registered function (FCALL).
pub struct FnEntry {
    pub library: String,
    callback: Function,
    pub flags: Flags,
    pub flag_names: Vec<String>,
    pub description: Option<String>,
}

/// A loaded library: its code and its functions' names.
pub struct Library {
    pub code: Vec<u8>,
    pub functions: Vec<String>,
}

/// The scripting state the server keeps (in `Server::script`).
pub struct Scripting {
    vm: Option<Vm>,
    /// The heap limit last given to the VM.
    applied_memory_limit: Option<u64>,
    /// EVAL / SCRIPT LOAD cache, by lower-case SHA1 hex.
    cache: HashMap<String, Script>,
    /// Sockets the busy loop serves while a script runs (see [`busy`]).
    pub io: Option<busy::BusyIo>,
    /// `busy-reply-threshold` (ms).
    pub busy_threshold_ms: u64,
    /// `lua-memory-limit` (bytes, 0 = none).
    pub memory_limit: u64,
    /// `lua-script-max-size` (bytes).
    pub max_script_size: u64,
    /// Scripts killed with SCRIPT KILL / FUNCTION KILL.
    pub killed: u64,
    /// Function libraries by name, and their functions by name.
    pub libraries: std::collections::BTreeMap<String, Library>,
    pub functions: HashMap<String, FnEntry>,
    /// The libraries stored durably have been loaded (on the first function command).
    pub functions_loaded: bool,
}

impl Default for Scripting {
    fn default() -> Self {
        Scripting {
            vm: None,
            applied_memory_limit: None,
            cache: HashMap::new(),
            io: None,
            busy_threshold_ms: 5000,
            memory_limit: 256 << 20,
            max_script_size: 64 << 20,
            killed: 0,
            libraries: std::collections::BTreeMap::new(),
            functions: HashMap::new(),
            functions_loaded: false,
        }
    }
}

/// What the callbacks and the hook know about the running script.
pub(crate) struct Run {
    ctx: *mut Ctx<'static>,
    sha: String,
    read_only: bool,
    /// `redis.setresp(3)` was called.
    resp3: bool,
    /// A write command ran: SCRIPT KILL is refused (UNKILLABLE).
    pub wrote: bool,
    started: Instant,
    /// Past `busy-reply-threshold`: other clients get -BUSY.
    pub busy: bool,
    /// SCRIPT KILL asked for it.
    pub kill: bool,
    /// A function (FCALL) rather than an EVAL script.
    pub is_function: bool,
    last_serve: Instant,
    threshold: Duration,
    /// The error text the hook or a callback raised (read by the handler).
    pending_error: Option<String>,
    /// Reply buffer reused by `redis.call`.
    scratch: Option<ReplyWriter>,
    /// The script error of the last `redis.call`, if it failed before running a command.
    call_error: String,
}

thread_local! {
    pub(crate) static RUN: RefCell<Option<Run>> = const { RefCell::new(None) };
    /// When the library being loaded (FUNCTION LOAD) started: Redis gives it 500 ms.
    static LOADING: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
    /// `math.random`'s generator: one per process, as Redis's (see `rand48.rs`).
    static RNG: RefCell<rand48::Rand48> = const { RefCell::new(rand48::Rand48::unseeded()) };
}

/// SHA1 hex (lower case) of `body`.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// The Redis error text for a script error: the message, then where it was raised.
fn script_error(msg: &str, sha: &str, source: Option<String>, line: Option<String>) -> String {
    let mut s = msg.trim_end_matches(['\r', '\n']).to_string();
    if let (Some(src), Some(line)) = (source, line) {
        s.push_str(&format!(" script: {sha}, on {src}:{line}."));
    }
    s.replace(['\r', '\n'], " ")
}

impl Scripting {
    fn vm(&mut self) -> Result<&Vm, ReplyError> {
        if self.vm.is_none() {
            let vm = new_vm().map_err(|e| {
                tracing::warn!(error = %e, "can't create the Lua VM");
                ReplyError::new(format!("ERR can't create the Lua VM: {e}"))
            })?;
            self.vm = Some(vm);
        }
        if let Some(vm) = &self.vm {
            if self.applied_memory_limit != Some(self.memory_limit) {
                let _ = vm.lua.set_memory_limit(self.memory_limit as usize);
                self.applied_memory_limit = Some(self.memory_limit);
            }
        }
        self.vm
            .as_ref()
            .ok_or_else(|| ReplyError::new("ERR no Lua VM"))
    }

    /// Whether a script with this SHA is cached.
    pub fn exists(&self, sha: &[u8]) -> bool {
        std::str::from_utf8(sha)
            .map(|s| self.cache.contains_key(&s.to_ascii_lowercase()))
            .unwrap_or(false)
    }

    /// Drops every cached script (SCRIPT FLUSH). The VM stays (its globals are read-only, so
    /// no script left state in it; the function libraries live in it too).
    pub fn flush(&mut self) {
        self.cache.clear();
        if let Some(vm) = &self.vm {
            let _ = vm.lua.gc_collect();
        }
    }

    /// Compiles and caches `body` (SCRIPT LOAD, EVAL); returns its SHA.
    pub fn load(&mut self, body: &[u8]) -> Result<String, ReplyError> {
        if body.len() as u64 > self.max_script_size {
            return Err(ReplyError::new(format!(
                "ERR script too large: {} bytes, the limit is {} bytes (lua-script-max-size)",
                body.len(),
                self.max_script_size
            )));
        }
        let sha = sha1_hex(body);
        if self.cache.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, code) = parse_shebang(body)?;
        let vm = self.vm()?;
        let func = vm
            .lua
            .load(code.as_ref())
            .set_name("@user_script")
            .set_environment(vm.env.clone())
            .into_function()
            .map_err(|e| {
                let msg = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    mlua::Error::MemoryError(m) => m,
                    other => other.to_string(),
                };
                ReplyError::new(format!(
                    "ERR Error compiling script (new function): {}",
                    msg.replace(['\r', '\n'], " ")
                ))
            })?;
        self.cache.insert(sha.clone(), Script { func, flags });
        Ok(sha)
    }

    /// The flags of a cached script.
    pub fn flags_of(&self, sha: &str) -> Option<Flags> {
        self.cache.get(sha).map(|s| s.flags)
    }
}

/// Parses Redis 7's `#!lua [flags=a,b]` first line; returns the flags and the code with the
/// shebang line blanked (line numbers stay Redis's).
pub fn parse_shebang(body: &[u8]) -> Result<(Flags, std::borrow::Cow<'_, [u8]>), ReplyError> {
    if !body.starts_with(b"#!") {
        return Ok((Flags::default(), std::borrow::Cow::Borrowed(body)));
    }
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[2..end]).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if engine != "lua" {
        return Err(ReplyError::new(format!(
            "ERR Unexpected engine in script shebang: #!{engine}"
        )));
    }
    let mut flags = Flags {
        declared: true,
        ..Flags::default()
    };
    for p in parts {
        let Some(list) = p.strip_prefix("flags=") else {
            return Err(ReplyError::new(format!(
                "ERR Unknown lua shebang option: {p}"
            )));
        };
        for f in list.split(',').filter(|f| !f.is_empty()) {
            match f {
                "no-writes" => flags.no_writes = true,
                "allow-oom" => flags.allow_oom = true,
                "allow-stale" => flags.allow_stale = true,
                "no-cluster" => flags.no_cluster = true,
                "allow-cross-slot-keys" => flags.allow_cross_slot = true,
                other => {
                    return Err(ReplyError::new(format!(
                        "ERR Unexpected flag in script shebang: {other}"
                    )))
                }
            }
        }
    }
    let mut code = Vec::with_capacity(body.len());
    code.extend_from_slice(&body[end..]);
    Ok((flags, std::borrow::Cow::Owned(code)))
}

/// Creates the VM: Lua 5.1's base, table, string, math libraries, coroutine in base (debug only for
/// the error handler, then removed), the prelude, and the hook.
fn new_vm() -> mlua::Result<Vm> {
    // SAFETY: the debug library is loaded for the prelude's error handler only; the prelude
    // keeps it in a local and it is removed from the globals below before any script runs.
    let lua = unsafe {
        Lua::unsafe_new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
            LuaOptions::default(),
        )
    };
    // SAFETY: C functions following Lua's protocol (see call_impl).
    let call = unsafe { lua.create_c_function(c_redis_call)? };
    let pcall = unsafe { lua.create_c_function(c_redis_pcall)? };
    let log = lua.create_function(|_, (level, msg): (i64, mlua::String)| {
        let msg = msg.to_string_lossy();
        match level {
            0 => tracing::debug!(target: "lua", "{msg}"),
            1 => tracing::debug!(target: "lua", "{msg}"),
            2 => tracing::info!(target: "lua", "{msg}"),
            _ => tracing::warn!(target: "lua", "{msg}"),
        }
        Ok(())
    })?;
    let sha = lua.create_function(|_, s: mlua::String| Ok(sha1_hex(&s.as_bytes())))?;
    let setresp = lua.create_function(|_, v: i64| {
        with_run(|r| r.resp3 = v == 3);
        Ok(())
    })?;
    let rand = lua.create_function(|_, ()| Ok(RNG.with(|r| r.borrow_mut().random())))?;
    let srand = lua.create_function(|_, s: i64| {
        RNG.with(|r| r.borrow_mut().seed(s as i32));
        Ok(())
    })?;
    // Wraps a Lua function in a C closure that calls it: functions of the `redis` library are
    // C functions in Redis, so `return redis.call(…)` is no Lua tail call and the error
    // handler still finds the script's line.
    let wrap = lua.create_function(|lua, f: Function| {
        // SAFETY: the closure pushes one C closure over the one argument on the stack.
        unsafe {
            lua.exec_raw::<Function>(f, |l| {
                mlua::ffi::lua_pushcclosure(l, trampoline, 1);
            })
        }
    })?;
    let errtext = lua.create_function(|_, v: Value| {
        let pending = with_run(|r| r.pending_error.take()).flatten();
        Ok(match (pending, v) {
            (Some(p), _) => p,
            (None, Value::Error(e)) => error_text(&e),
            (None, other) => format!("{other:?}"),
        })
    })?;
    let acl = lua.create_function(|_, args: MultiValue| {
        let Some(Value::String(name)) = args.front() else {
            return Ok(false);
        };
        Ok(crate::commands::lookup(&name.as_bytes()).is_some())
    })?;
    let killed = lua.create_function(|_, ()| Ok(with_run(|r| r.kill).unwrap_or(false)))?;
    let prelude = lua
        .load(include_str!("prelude.lua"))
        .set_name("=sluice")
        .into_function()?;
    let (env, view, runner, run_fn, load_lib, lib_env): (
        Table,
        Table,
        Function,
        Function,
        Function,
        Table,
    ) = prelude.call((
        call,
        pcall,
        log,
        sha,
        setresp,
        rand,
        srand,
        errtext,
        acl,
        wrap,
        killed,
        libs::create(&lua)?,
        crate::commands::info::reported_version().0,
        crate::commands::info::reported_version().1,
    ))?;
    let g = lua.globals();
    for name in [
        "debug", "print", "loadfile", "dofile", "require", "module", "package", "os", "io",
        "newproxy", "setfenv", "getfenv",
    ] {
        g.raw_set(name, Value::Nil)?;
    }
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        |_, _| hook(),
    );
    Ok(Vm {
        lua,
        env,
        view,
        runner,
        run_fn,
        load_lib,
        lib_env,
    })
}

/// The C function behind [`new_vm`]'s `wrap`: calls its upvalue with its arguments and
/// returns what it returns. Errors propagate as Lua errors (no Rust value lives across the
/// call, so the longjmp skips nothing that needs dropping).
unsafe extern "C-unwind" fn trampoline(l: *mut mlua::ffi::lua_State) -> std::os::raw::c_int {
    let n = mlua::ffi::lua_gettop(l);
    mlua::ffi::lua_pushvalue(l, mlua::ffi::lua_upvalueindex(1));
    mlua::ffi::lua_insert(l, 1);
    mlua::ffi::lua_call(l, n, mlua::ffi::LUA_MULTRET);
    mlua::ffi::lua_gettop(l)
}

/// An mlua error as the text a script sees.
fn error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        other => other.to_string(),
    }
}

/// Runs `f` on the running script's state, if a script runs.
pub(crate) fn with_run<T>(f: impl FnOnce(&mut Run) -> T) -> Option<T> {
    RUN.with(|r| r.borrow_mut().as_mut().map(f))
}

/// Whether a script is running now (for SCRIPT KILL outside the busy loop).
pub fn running() -> bool {
    RUN.with(|r| r.borrow().is_some())
}

/// The instruction-count hook: past the threshold, serve the other clients; after SCRIPT
/// KILL, raise the error (every instruction from then on, so `pcall` cannot swallow it).
fn hook() -> mlua::Result<VmState> {
    let now = Instant::now();
    if let Some(started) = LOADING.get() {
        if now.saturating_duration_since(started) > LOAD_TIMEOUT {
            return Err(mlua::Error::RuntimeError("FUNCTION LOAD timeout".into()));
        }
        return Ok(VmState::Continue);
    }
    let action = RUN.with(|r| {
        let mut r = r.borrow_mut();
        let run = r.as_mut()?;
        if run.kill {
            run.pending_error = Some("Script killed by user with SCRIPT KILL...".into());
            return Some(Err(()));
        }
        let elapsed = now.saturating_duration_since(run.started);
        if elapsed < run.threshold {
            return None;
        }
        if !run.busy {
            run.busy = true;
            tracing::warn!(
                "Slow script detected: still in execution after {} milliseconds. You can try killing the script using the SCRIPT KILL command. Script name is: {}.",
                elapsed.as_millis(),
                run.sha
            );
        }
        if now.saturating_duration_since(run.last_serve) < Duration::from_millis(2) {
            return None;
        }
        run.last_serve = now;
        Some(Ok(run.ctx))
    });
    match action {
        None => Ok(VmState::Continue),
        Some(Err(())) => Err(mlua::Error::RuntimeError(
            "Script killed by user with SCRIPT KILL...".into(),
        )),
        Some(Ok(ctx)) => {
            // SAFETY: RUN's pointer is valid while the script runs (module invariant), and no
            // other reference to the Ctx is used while the hook runs.
            let ctx = unsafe { &mut *ctx };
            busy::serve(ctx);
            if with_run(|r| r.kill).unwrap_or(false) {
                with_run(|r| {
                    r.pending_error = Some("Script killed by user with SCRIPT KILL...".into())
                });
                return Err(mlua::Error::RuntimeError(
                    "Script killed by user with SCRIPT KILL...".into(),
                ));
            }
            Ok(VmState::Continue)
        }
    }
}

/// The script error Redis reports for an error raised by the script (the `{err=…}` table).
fn raised_error(v: &Value, sha: &str) -> String {
    match v {
        Value::Table(t) => {
            let msg = match t.raw_get::<Value>("err") {
                Ok(Value::String(s)) => s.to_string_lossy(),
                _ => "ERR unknown error".into(),
            };
            let source = match t.raw_get::<Value>("source") {
                Ok(Value::String(s)) => Some(s.to_string_lossy()),
                _ => None,
            };
            let line = match t.raw_get::<Value>("line") {
                Ok(Value::Integer(n)) => Some(n.to_string()),
                Ok(Value::Number(n)) => Some(format!("{n}")),
                Ok(Value::String(s)) => Some(s.to_string_lossy()),
                _ => None,
            };
            script_error(&msg, sha, source, line)
        }
        Value::String(s) => format!(
            "ERR Error running script {sha}, {}",
            s.to_string_lossy().chars().take(100).collect::<String>()
        ),
        _ => format!("ERR Error running script {sha}, execution failure"),
    }
}

/// How a script is called.
pub struct Call<'a> {
    /// The script's SHA (EVAL) or the function's name (FCALL).
    pub sha: String,
    pub keys: &'a [Bytes],
    pub args: &'a [Bytes],
    /// EVAL_RO / EVALSHA_RO / FCALL_RO.
    pub read_only: bool,
    /// FCALL: run the registered function named `sha`.
    pub function: bool,
}

/// Runs a cached script or a registered function for the command in `ctx` and writes its reply.
pub fn run(ctx: &mut Ctx<'_>, call: Call<'_>) -> CmdResult {
    let sc = &mut ctx.srv.script;
    let (func, flags) = if call.function {
        let Some(f) = sc.functions.get(&call.sha) else {
            return Err("ERR Function not found".into());
        };
        (f.callback.clone(), f.flags)
    } else {
        let Some(script) = sc.cache.get(&call.sha) else {
            return Err("NOSCRIPT No matching script. Please use EVAL.".into());
        };
        (script.func.clone(), script.flags)
    };
    if call.read_only && (call.function || flags.declared) && !flags.no_writes {
        return Err("ERR Can not execute a script with write flag using *_ro command.".into());
    }
    let threshold = Duration::from_millis(sc.busy_threshold_ms);
    let vm = sc.vm()?;
    let lua = vm.lua.clone();
    let runner = if call.function {
        vm.run_fn.clone()
    } else {
        vm.runner.clone()
    };
    // KEYS and ARGV: for a script, set in its globals in one protected call; for a function,
    // built as its two arguments. SAFETY: see raw.rs's rules; each closure leaves exactly the
    // values its type says on the stack.
    let args: mlua::Result<Option<(Table, Table)>> = if call.function {
        unsafe {
            lua.exec_raw::<(Table, Table)>((), |l| {
                raw::push_strings(l, call.keys);
                raw::push_strings(l, call.args);
            })
        }
        .map(Some)
    } else {
        unsafe {
            lua.exec_raw::<()>(&vm.view, |l| {
                raw::push_strings(l, call.keys);
                mlua::ffi::lua_setfield(l, -2, c"KEYS".as_ptr());
                raw::push_strings(l, call.args);
                mlua::ffi::lua_setfield(l, -2, c"ARGV".as_ptr());
                mlua::ffi::lua_pop(l, 1);
            })
        }
        .map(|()| None)
    };
    let args = match args {
        Ok(a) => a,
        Err(e) => {
            return Err(ReplyError::new(format!(
                "ERR Error running script {}, {}",
                call.sha,
                error_text(&e)
            )))
        }
    };
    let now = Instant::now();
    let saved_db = ctx.client.db;
    let saved_proto = ctx.client.proto;
    let saved_exec = ctx.client.in_exec;
    ctx.client.in_exec = true;
    ctx.store.begin_atomic();
    let ptr = (ctx as *mut Ctx<'_>).cast::<Ctx<'static>>();
    RUN.with(|r| {
        *r.borrow_mut() = Some(Run {
            ctx: ptr,
            sha: call.sha.clone(),
            read_only: call.read_only || flags.no_writes,
            resp3: false,
            wrote: false,
            started: now,
            busy: false,
            kill: false,
            is_function: call.function,
            last_serve: now,
            threshold,
            pending_error: None,
            scratch: None,
            call_error: String::new(),
        })
    });
    let result: mlua::Result<(bool, Value)> = match args {
        Some((keys, argv)) => runner.call((func, keys, argv)),
        None => runner.call(func),
    };
    let run = RUN.with(|r| r.borrow_mut().take());
    ctx.store.end_atomic();
    ctx.client.in_exec = saved_exec;
    ctx.client.db = saved_db;
    ctx.client.proto = saved_proto;
    let Some(run) = run else {
        return Err("ERR script state lost".into());
    };
    if run.kill {
        ctx.srv.script.killed += 1;
    }
    if run.busy {
        tracing::warn!(
            ms = run.started.elapsed().as_millis() as u64,
            "slow script finished"
        );
    }
    // KEYS and ARGV stay until the next script replaces them (as in Redis).
    match result {
        Ok((true, v)) => {
            convert::write_lua(ctx.out, &v, run.resp3, 0);
            Ok(())
        }
        Ok((false, v)) => {
            if matches!(v, Value::String(ref s) if s.as_bytes().starts_with(b"not enough memory")) {
                let _ = lua.gc_collect();
                return Err(ReplyError::new(format!(
                    "ERR Error running script {}, out of Lua memory (lua-memory-limit is {} bytes)",
                    call.sha, ctx.srv.script.memory_limit
                )));
            }
            Err(ReplyError::new(raised_error(&v, &call.sha)))
        }
        Err(e) => {
            let _ = lua.gc_collect();
            let text = match &e {
                mlua::Error::MemoryError(_) => format!(
                    "out of Lua memory (lua-memory-limit is {} bytes)",
                    ctx.srv.script.memory_limit
                ),
                other => error_text(other),
            };
            Err(ReplyError::new(format!(
                "ERR Error running script {}, {}",
                call.sha, text
            )))
        }
    }
}

/// The message of a Lua error value raised while loading a library (`ERR …`, no position
/// suffix), as Redis's "Error registering functions: …".
fn load_error(v: &Value) -> String {
    match v {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => s.to_string_lossy(),
            _ => "ERR unknown error".into(),
        },
        Value::String(s) => format!("ERR {}", s.to_string_lossy()),
        _ => "ERR unknown error".into(),
    }
}

/// Parses `#!lua name=<lib>` (FUNCTION LOAD's metadata) with Redis's errors.
fn library_name(code: &[u8]) -> Result<String, ReplyError> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[2..end]).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(ReplyError::new(format!("ERR Engine '{engine}' not found")));
    }
    let mut name = None;
    for p in parts {
        match p.strip_prefix("name=") {
            Some(n) => name = Some(n.to_string()),
            None => {
                return Err(ReplyError::new(format!(
                    "ERR Invalid metadata value given: {p}"
                )))
            }
        }
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    Ok(name)
}

impl Scripting {
    /// FUNCTION LOAD: compiles and runs a library, registers its functions; returns its name.
    pub fn load_library(&mut self, code: &[u8], replace: bool) -> Result<String, ReplyError> {
        if code.len() as u64 > self.max_script_size {
            return Err(ReplyError::new(format!(
                "ERR script too large: {} bytes, the limit is {} bytes (lua-script-max-size)",
                code.len(),
                self.max_script_size
            )));
        }
        let name = library_name(code)?;
        if self.libraries.contains_key(&name) && !replace {
            return Err(ReplyError::new(format!(
                "ERR Library '{name}' already exists"
            )));
        }
        let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
        let body = &code[end..];
        let vm = self.vm()?;
        let chunk = vm
            .lua
            .load(body)
            .set_name("@user_function")
            .set_environment(vm.lib_env.clone())
            .into_function()
            .map_err(|e| {
                let msg = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => error_text(&other),
                };
                ReplyError::new(format!(
                    "ERR Error compiling function: {}",
                    msg.replace(['\r', '\n'], " ")
                ))
            })?;
        LOADING.set(Some(Instant::now()));
        let loaded: mlua::Result<(bool, Value)> = vm.load_lib.call(chunk);
        LOADING.set(None);
        let (ok, v) = loaded.map_err(|e| {
            ReplyError::new(format!(
                "ERR Error registering functions: ERR {}",
                error_text(&e)
            ))
        })?;
        if !ok {
            return Err(ReplyError::new(format!(
                "ERR Error registering functions: {}",
                load_error(&v)
            )));
        }
        let Value::Table(list) = v else {
            return Err("ERR No functions registered".into());
        };
        let mut fns = Vec::new();
        for item in list.sequence_values::<Table>() {
            let item = item.map_err(|e| ReplyError::new(format!("ERR {}", error_text(&e))))?;
            let fname: String = item.raw_get("name").unwrap_or_default();
            let callback: Function = item
                .raw_get("callback")
                .map_err(|e| ReplyError::new(format!("ERR {}", error_text(&e))))?;
            let description: Option<String> = item.raw_get("description").ok().flatten();
            let mut flags = Flags {
                declared: true,
                ..Flags::default()
            };
            let mut flag_names = Vec::new();
            if let Ok(Value::Table(fl)) = item.raw_get::<Value>("flags") {
                for f in fl.sequence_values::<String>().flatten() {
                    match f.as_str() {
                        "no-writes" => flags.no_writes = true,
                        "allow-oom" => flags.allow_oom = true,
                        "allow-stale" => flags.allow_stale = true,
                        "no-cluster" => flags.no_cluster = true,
                        _ => flags.allow_cross_slot = true,
                    }
                    flag_names.push(f);
                }
            }
            fns.push((fname, callback, flags, flag_names, description));
        }
        if fns.is_empty() {
            return Err("ERR No functions registered".into());
        }
        for (fname, ..) in &fns {
            if let Some(existing) = self.functions.get(fname) {
                if existing.library != name {
                    return Err(ReplyError::new(format!(
                        "ERR Function {fname} already exists"
                    )));
                }
            }
        }
        self.delete_library(&name);
        let mut names = Vec::new();
        for (fname, callback, flags, flag_names, description) in fns {
            names.push(fname.clone());
            self.functions.insert(
                fname,
                FnEntry {
                    library: name.clone(),
                    callback,
                    flags,
                    flag_names,
                    description,
                },
            );
        }
        self.libraries.insert(
            name.clone(),
            Library {
                code: code.to_vec(),
                functions: names,
            },
        );
        Ok(name)
    }

    /// Removes a library and its functions; whether it existed.
    pub fn delete_library(&mut self, name: &str) -> bool {
        let Some(lib) = self.libraries.remove(name) else {
            return false;
        };
        for f in &lib.functions {
            self.functions.remove(f);
        }
        true
    }

    /// FUNCTION FLUSH.
    pub fn flush_functions(&mut self) {
        self.libraries.clear();
        self.functions.clear();
    }
}

/// Formats a Lua number as Redis 7.0 does for command arguments (`%.17g`).
pub(crate) fn format_number(n: f64) -> Vec<u8> {
    let mut buf = [0u8; 64];
    // SAFETY: the buffer is 64 bytes, snprintf writes at most that many including the NUL,
    // and the format takes exactly one double.
    let len = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.17g".as_ptr(), n) };
    buf[..(len.max(0) as usize).min(63)].to_vec()
}

/// What the Rust part of `redis.call` produced (the data itself is in [`Run`]).
#[derive(Clone, Copy)]
enum Called {
    /// The command's reply is in `Run::scratch`.
    Reply,
    /// A script error (luaPushError's text, without code) is in `Run::call_error`.
    Error,
}

/// The Rust part of `redis.call`: reads the arguments from the Lua stack (without any Lua
/// call that could raise), checks them as Redis's `scriptCall`, runs the command into the
/// scratch writer. Every Rust value it creates is dropped when it returns.
unsafe fn call_dispatch(l: *mut mlua::ffi::lua_State) -> Called {
    use mlua::ffi;
    let fail = |msg: &str| {
        with_run(|r| r.call_error = msg.to_string());
        Called::Error
    };
    let n = ffi::lua_gettop(l);
    if n == 0 {
        return fail("Please specify at least one argument for this redis lib call");
    }
    let mut argv: Vec<Bytes> = Vec::with_capacity(n as usize);
    for i in 1..=n {
        match ffi::lua_type(l, i) {
            ffi::LUA_TSTRING => {
                let mut len = 0usize;
                let p = ffi::lua_tolstring(l, i, &mut len);
                // SAFETY: Lua's string of `len` bytes, alive while on the stack.
                argv.push(Bytes::copy_from_slice(std::slice::from_raw_parts(
                    p.cast::<u8>(),
                    len,
                )));
            }
            ffi::LUA_TNUMBER => argv.push(Bytes::from(format_number(ffi::lua_tonumber(l, i)))),
            _ => return fail("Lua redis lib command arguments must be strings or integers"),
        }
    }
    let Some((ptr, read_only, resp3, scratch)) =
        with_run(|r| (r.ctx, r.read_only, r.resp3, r.scratch.take()))
    else {
        return fail("redis.call can only be called inside a script invocation");
    };
    // SAFETY: see the module invariant; the Ctx is not otherwise used while a callback runs.
    let ctx = &mut *ptr;
    let Some(cmd) = crate::commands::lookup(&argv[0]) else {
        return fail("Unknown Redis command called from script");
    };
    let cmd = match engine::resolve(cmd, &argv) {
        Ok(c) => c,
        Err(e) if e.0.starts_with("ERR unknown subcommand") => {
            return fail("Unknown Redis command called from script")
        }
        Err(e) if e.0.starts_with("ERR wrong number") => {
            return fail("Wrong number of args calling Redis command from script")
        }
        Err(e) => return fail(e.0.strip_prefix("ERR ").unwrap_or(&e.0)),
    };
    if cmd.has_flag("noscript") {
        return fail("This Redis command is not allowed from script");
    }
    let write = cmd.has_flag("write");
    if write && read_only {
        return fail("Write commands are not allowed from read-only scripts.");
    }
    let proto = if resp3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    let mut out = scratch.unwrap_or_else(|| ReplyWriter::new(proto));
    out.truncate(0);
    out.set_protocol(proto);
    let saved_proto = ctx.client.proto;
    ctx.client.proto = proto;
    let caller_out = std::mem::replace(ctx.out, out);
    engine::call(ctx, cmd, &argv);
    let out = std::mem::replace(ctx.out, caller_out);
    ctx.client.proto = saved_proto;
    with_run(|r| {
        if write {
            r.wrote = true;
        }
        r.scratch = Some(out);
    });
    Called::Reply
}

/// `redis.call` (`raise`) and `redis.pcall` as C functions, as in Redis: the Rust part runs
/// first and drops everything it made; then the value is pushed on the Lua stack (which may
/// raise out of memory: nothing on these frames needs dropping), and for `redis.call` an
/// error reply is raised as the `{err=…}` table.
unsafe fn call_impl(l: *mut mlua::ffi::lua_State, raise: bool) -> std::os::raw::c_int {
    use mlua::ffi;
    let called = call_dispatch(l);
    ffi::lua_settop(l, 0);
    let is_error = match called {
        Called::Error => {
            let (p, len) = RUN
                .with(|r| {
                    r.borrow()
                        .as_ref()
                        .map(|run| (run.call_error.as_ptr(), run.call_error.len()))
                })
                .unwrap_or((std::ptr::null(), 0));
            // SAFETY: the text lives in RUN, untouched until the next call.
            let msg = if p.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(p, len)
            };
            raw::push_plain_error(l, msg);
            true
        }
        Called::Reply => {
            let (p, len) = RUN
                .with(|r| {
                    r.borrow().as_ref().and_then(|run| {
                        run.scratch
                            .as_ref()
                            .map(|w| (w.buffer().as_ptr(), w.buffer().len()))
                    })
                })
                .unwrap_or((std::ptr::null(), 0));
            // SAFETY: the reply lives in RUN's scratch writer, untouched until the next call.
            let buf = if p.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(p, len)
            };
            let mut pos = 0;
            raw::push_reply(l, buf, &mut pos, 0);
            buf.first() == Some(&b'-')
        }
    };
    if raise && is_error {
        ffi::lua_error(l)
    }
    1
}

unsafe extern "C-unwind" fn c_redis_call(l: *mut mlua::ffi::lua_State) -> std::os::raw::c_int {
    call_impl(l, true)
}

unsafe extern "C-unwind" fn c_redis_pcall(l: *mut mlua::ffi::lua_State) -> std::os::raw::c_int {
    call_impl(l, false)
}

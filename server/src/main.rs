//! The `sluice` binary: `sluice [config-file] [--option value …]`, as redis-server.

/// mimalloc: the event loop allocates small buffers at a high rate, and
/// glibc's malloc showed up at ~15% of the engine thread's profile under XADD load. Wrapped in a
/// counter of live bytes (INFO `used_memory`; see `sluice_server::alloc`).
#[global_allocator]
static GLOBAL: sluice_server::alloc::Counting = sluice_server::alloc::Counting;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // As redis-server: these are only recognised as the first argument.
    match args.first().map(String::as_str) {
        Some("-v" | "--version") => {
            println!("{}", sluice_server::config::version_line());
            return;
        }
        Some("-h" | "--help") => {
            print!("{}", sluice_server::config::usage());
            return;
        }
        _ => {}
    }
    if let Some(code) = offline_tool(&args) {
        std::process::exit(code);
    }
    let config = match sluice_server::config::Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("(sluice --help lists every option)");
            std::process::exit(1);
        }
    };
    // Before any thread exists: fork() keeps only the calling thread.
    if config.daemonize {
        daemonize();
    }
    if !config.logfile.is_empty() {
        if let Err(e) = redirect_stderr(&config.logfile) {
            eprintln!("Can't open the log file {}: {e}", config.logfile);
            std::process::exit(1);
        }
    }
    sluice_server::logging::ignore_sigpipe();
    sluice_server::logging::init(sluice_server::logging::level_for(&config.loglevel));
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        pid = std::process::id(),
        port = config.port,
        appendfsync = config.appendfsync.name(),
        config_file = %config.config_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        "Sluice starting"
    );
    if !config.ignored.is_empty() {
        let list: Vec<String> = config
            .ignored
            .iter()
            .map(|(n, v)| format!("{n} {v}"))
            .collect();
        tracing::warn!(
            count = list.len(),
            "Redis directives that do not apply to Sluice were ignored: {}",
            list.join("; ")
        );
    }
    if config.maxmemory_policy != "noeviction" {
        tracing::warn!(
            policy = %config.maxmemory_policy,
            "Sluice never evicts keys: maxmemory-policy acts as noeviction (commands that add data are refused above maxmemory)"
        );
    }
    if !config.pidfile.is_empty() {
        if let Err(e) = std::fs::write(&config.pidfile, format!("{}\n", std::process::id())) {
            // Redis logs this and goes on.
            tracing::warn!(pidfile = %config.pidfile, "can't write the pid file: {e}");
        }
    }
    let pidfile = config.pidfile.clone();
    raise_open_files_limit(config.maxclients + 64);
    // A panic is a bug; a half-dead server (say, a dead engine thread with live connections)
    // would hang its clients. Log it and abort, as Redis does on an assertion.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!("panic: {info}");
        sluice_server::logging::flush();
        default_hook(info);
        std::process::abort();
    }));
    if let Err(e) = sluice_server::run(config) {
        sluice_server::fault::fatal(&e);
    }
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    sluice_server::logging::flush();
}

/// `daemonize yes`: the parent exits at once; the child leaves the terminal's session and
/// points its standard streams at /dev/null (the log then goes to `logfile`, or nowhere, as
/// with Redis).
fn daemonize() {
    // SAFETY: no other thread exists yet (see the caller), so fork() copies a consistent
    // process; the parent only calls _exit.
    unsafe {
        match libc::fork() {
            -1 => {
                eprintln!(
                    "can't fork to daemonize: {}",
                    std::io::Error::last_os_error()
                );
                std::process::exit(1);
            }
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            if null > 2 {
                libc::close(null);
            }
        }
    }
}

/// `logfile`: standard error becomes the file (appended to), so the log's writer thread and any
/// last words from the runtime go there.
fn redirect_stderr(path: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // SAFETY: dup2 on two valid descriptors; `f` stays open until the dup exists.
    if unsafe { libc::dup2(f.as_raw_fd(), 2) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `sluice check <dir>` and `sluice repair <dir> <new-dir>`, the offline tools of
/// `sluice_storage::repair`: the report goes to stdout; exit 0 = no damage, 1 = damage found
/// (repair: and everything readable copied), 2 = could not run. `None` for any other command
/// line (the server).
fn offline_tool(args: &[String]) -> Option<i32> {
    let report = match args.first().map(String::as_str) {
        Some("check") => match &args[1..] {
            [dir] => sluice_storage::repair::check(std::path::Path::new(dir)),
            _ => Err("usage: sluice check <data-dir>".to_string()),
        },
        Some("repair") => match &args[1..] {
            [from, to] => {
                sluice_storage::repair::repair(std::path::Path::new(from), std::path::Path::new(to))
            }
            _ => Err("usage: sluice repair <damaged-data-dir> <new-data-dir>".to_string()),
        },
        _ => return None,
    };
    Some(match report {
        Ok(r) => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = r.print(&mut out) {
                eprintln!("can't write the report: {e}");
                return Some(2);
            }
            if r.is_clean() {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("{e}");
            2
        }
    })
}

/// Raises the soft open-files limit towards `want` (bounded by the hard limit), as redis-server
/// does for `maxclients`.
fn raise_open_files_limit(want: u64) {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return;
            }
            if lim.rlim_cur >= want as libc::rlim_t {
                return;
            }
            let new = (want as libc::rlim_t).min(lim.rlim_max);
            lim.rlim_cur = new;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                tracing::warn!(want, "could not raise the open files limit");
            } else if new < want as libc::rlim_t {
                tracing::warn!(limit = new, want, "open files limit is below maxclients");
            }
        }
    }
}

use clap::Parser;
use sluice_bench::cli::Args;
use sluice_bench::{runner, server};

fn main() {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads as usize)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice-bench: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = rt.block_on(async move {
        // Ctrl-C or SIGTERM: kill the servers we started, then exit.
        tokio::spawn(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let t = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = t => {}
            }
            server::kill_all();
            eprintln!("\nsluice-bench: interrupted; servers stopped");
            std::process::exit(130);
        });
        match runner::run(args).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("sluice-bench: {e}");
                1
            }
        }
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    std::process::exit(code);
}

//! The `kvt` binary: parse → logging → run the command → exit code.

use std::process::ExitCode;

use clap::Parser;
use kvt::cli::{Cli, LogFormat};
use tracing_subscriber::EnvFilter;

// Silver builds millions of small strings: mimalloc roughly halves the time
// glibc malloc spends on them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    // libmimalloc (linked by the `mimalloc` crate).
    fn mi_option_set(option: i32, value: std::ffi::c_long);
}

/// `silver nginx` keeps freed memory instead of returning it to the OS after
/// 10 ms: it reuses it at once, and re-faulting zeroed pages cost ~40 % of its
/// time. Other commands keep mimalloc's default (memory returned): the sources
/// that buffer a whole run (firebase, payments, orders) peak ~20 % lower with
/// it, for ~20 % more time.
/// (`mi_option_purge_delay` = 15 in mimalloc v2 and v3.) An explicit
/// `MIMALLOC_PURGE_DELAY` in the environment wins.
fn tune_allocator_for_batch() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: plain option setter of the allocator, called before any thread starts.
    unsafe { mi_option_set(15, -1) };
}

fn main() -> ExitCode {
    // .env first, so its values act as environment variables (never overriding real ones).
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    if matches!(
        cli.command,
        kvt::cli::Command::Silver(kvt::cli::SilverCommand::Nginx(_))
    ) {
        tune_allocator_for_batch();
    }
    if matches!(cli.command, kvt::cli::Command::Kyc(_))
        && std::env::var_os("OMP_THREAD_LIMIT").is_none()
    {
        // One thread per image, parallelism across images: Tesseract's
        // OpenMP threads make one image 4× slower on 2 cores (measured,
        // docs/benchmarks.md). libgomp reads the limit when it is loaded,
        // before main: run again with it set.
        use std::os::unix::process::CommandExt;
        if let Ok(exe) = std::env::current_exe() {
            let err = std::process::Command::new(exe)
                .args(std::env::args_os().skip(1))
                .env("OMP_THREAD_LIMIT", "1")
                .exec();
            eprintln!("warning: could not re-run with OMP_THREAD_LIMIT=1: {err}");
        }
    }
    init_logging(&cli);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let status = rt.block_on(kvt::cmd::run(&cli));
    ExitCode::from(status.code())
}

fn init_logging(cli: &Cli) {
    let default = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,kvt={default}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match cli.global.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

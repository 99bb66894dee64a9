use std::process::ExitCode;

use clap::Parser;

/// jemalloc instead of the C library's malloc: a token request allocates and frees a
/// few hundred small blocks across two runtime threads, which jemalloc's per-thread
/// caches serve with less work (bench/HISTORY.md has the measurements).
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it starts (`_RJEM_MALLOC_CONF` in the environment
/// overrides them one by one). A small server runs few threads, so a few arenas
/// do; memory freed after a burst goes back to the system within a second or two
/// rather than jemalloc's default ten, so that idle memory stays small.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: Option<&std::ffi::c_char> =
    Some(unsafe { &*c"narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr() });

fn main() -> ExitCode {
    let cli = latchkey::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(latchkey::cli::run(cli))
}

//! The `rankbook` command.

use std::process::ExitCode;

use clap::Parser;

mod cli;

// mimalloc reuses freed buffers instead of returning them to the OS; with
// per-batch activations that removes most page faults (measured in issue #3).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (its position in mimalloc 2's option enum).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Keep freed memory instead of returning it to the OS after 10 ms. A training step frees and re-allocates hundreds of MiB of
    // activations; returned pages come back zero-filled by the kernel, which
    // took a quarter of a step's time in a profile.
    // MIMALLOC_PURGE_DELAY in the environment still wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an allocator option; no allocation is in flight.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            cli::style::print_error(&e);
            ExitCode::FAILURE
        }
    }
}

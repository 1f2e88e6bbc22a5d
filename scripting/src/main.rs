//! The `rankbook` command.

use std::process::ExitCode;

use clap::Parser;

mod cli;

// mimalloc reuses freed buffers instead of returning them to the OS; with
// per-batch activations that removes most page faults (measured in issue #3).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            cli::style::print_error(&e);
            ExitCode::FAILURE
        }
    }
}

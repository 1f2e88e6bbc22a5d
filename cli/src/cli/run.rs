//! `rankbook run`: execute a Rhai script.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::anyhow;
use clap::Args;
use rankbook::progress::CancelFlag;
use rankbook_script::{Limits, Session, new_engine_with};

use super::progress::{Bar, cancel_on_ctrl_c_with};

#[derive(Args)]
pub struct RunArgs {
    /// The script.
    script: PathBuf,
    /// Variables for the script, `--set key=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Stop the script after this many operations (0: no limit), to catch runaway loops.
    #[arg(long, default_value_t = 0)]
    max_operations: u64,
    /// Deepest nesting of function calls allowed.
    #[arg(long, default_value_t = Limits::default().max_call_depth)]
    max_call_depth: usize,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub fn run(a: RunArgs) -> anyhow::Result<()> {
    let vars = a
        .set
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| anyhow!("--set {kv}: expected KEY=VALUE"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut session = Session::with_engine(new_engine_with(&Limits {
        max_operations: a.max_operations,
        max_call_depth: a.max_call_depth,
    }));
    // Ctrl-C sets the session's interrupt flag: the script stops at its next
    // operation and a long operation at its next batch or step.
    cancel_on_ctrl_c_with(
        CancelFlag::from_shared(session.interrupt_flag()),
        "interrupted: stopping the script (Ctrl-C again to quit now)",
    );
    session.set_terminal_progress(Arc::new(Bar::new(a.quiet)));
    let _ = session.run_file(&a.script, &vars)?;
    Ok(())
}

//! `rankbook run`: execute a Rhai script.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use rankbook_script::{new_engine, run_file};

#[derive(Args)]
pub struct RunArgs {
    /// The script.
    script: PathBuf,
    /// Variables for the script, `--set key=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
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
    let engine = new_engine();
    let _ = run_file(&engine, &a.script, &vars)?;
    Ok(())
}

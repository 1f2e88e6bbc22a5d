//! `rankbook-kernel`: run the kernel (`--connection-file F`, as Jupyter starts
//! it) or install its kernelspec.

use std::path::PathBuf;

use anyhow::{Context, bail};
use rankbook_kernel::kernelspec;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
Jupyter kernel for rankbook (Rhai cells)

Usage: rankbook-kernel --connection-file FILE     (as Jupyter starts it)
       rankbook-kernel install [--user | --prefix PREFIX | --sys-prefix]

  install --user        the kernelspec for this user (the default)
  install --prefix P    under P/share/jupyter
  install --sys-prefix  into the active virtual environment";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Cli {
    /// Serve the kernel described by this connection file.
    Serve(PathBuf),
    /// Install the kernelspec: under a prefix, or into the venv, or for the user.
    Install {
        prefix: Option<PathBuf>,
        sys_prefix: bool,
    },
    /// Print this text.
    Help,
    /// Print the version.
    Version,
}

/// Parses the arguments (after the program name). A small hand parser: the
/// kernel takes two forms, and links no argument-parsing crate.
fn parse(args: &[String]) -> anyhow::Result<Cli> {
    let mut it = args.iter().map(String::as_str);
    let value = |it: &mut dyn Iterator<Item = &str>, flag: &str| -> anyhow::Result<PathBuf> {
        match it.next() {
            Some(v) => Ok(PathBuf::from(v)),
            None => bail!("{flag} needs a value\n\n{USAGE}"),
        }
    };
    match it.next() {
        Some("-h" | "--help") => Ok(Cli::Help),
        Some("-V" | "--version") => Ok(Cli::Version),
        Some("--connection-file") => {
            let file = value(&mut it, "--connection-file")?;
            match it.next() {
                None => Ok(Cli::Serve(file)),
                Some(extra) => bail!("unexpected argument `{extra}`\n\n{USAGE}"),
            }
        }
        Some(a) if a.starts_with("--connection-file=") => {
            Ok(Cli::Serve(PathBuf::from(&a["--connection-file=".len()..])))
        }
        Some("install") => {
            let (mut prefix, mut sys_prefix, mut user) = (None, false, false);
            while let Some(a) = it.next() {
                match a {
                    "--user" => user = true,
                    "--sys-prefix" => sys_prefix = true,
                    "--prefix" => prefix = Some(value(&mut it, "--prefix")?),
                    other => bail!("unexpected argument `{other}` to install\n\n{USAGE}"),
                }
            }
            if [user, sys_prefix, prefix.is_some()]
                .iter()
                .filter(|x| **x)
                .count()
                > 1
            {
                bail!("--user, --prefix and --sys-prefix exclude each other");
            }
            Ok(Cli::Install { prefix, sys_prefix })
        }
        Some(other) => bail!("unexpected argument `{other}`\n\n{USAGE}"),
        None => bail!("give --connection-file FILE (Jupyter does), or `install`\n\n{USAGE}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = parse(&args).and_then(run) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli {
        Cli::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Cli::Version => {
            println!("rankbook-kernel {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Cli::Install { prefix, sys_prefix } => {
            let dir = kernelspec::kernel_dir(prefix.as_deref(), sys_prefix)?;
            let exe = std::env::current_exe()?;
            kernelspec::install(&dir, &exe)?;
            eprintln!(
                "installed kernelspec \"{}\" in {}",
                kernelspec::KERNEL_NAME,
                dir.display()
            );
            eprintln!("hint: start JupyterLab with `jupyter lab` and pick \"Rankbook (Rhai)\"");
            Ok(())
        }
        Cli::Serve(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading the connection file {}", path.display()))?;
            let info = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a Jupyter connection file", path.display()))?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            rt.block_on(rankbook_kernel::server::run(info))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_both_forms_and_refuses_the_rest() {
        assert_eq!(
            parse(&args(&["--connection-file", "k.json"])).unwrap(),
            Cli::Serve("k.json".into())
        );
        assert_eq!(
            parse(&args(&["--connection-file=k.json"])).unwrap(),
            Cli::Serve("k.json".into())
        );
        assert_eq!(
            parse(&args(&["install", "--prefix", "/p"])).unwrap(),
            Cli::Install {
                prefix: Some("/p".into()),
                sys_prefix: false
            }
        );
        assert_eq!(
            parse(&args(&["install"])).unwrap(),
            Cli::Install {
                prefix: None,
                sys_prefix: false
            }
        );
        assert_eq!(parse(&args(&["--version"])).unwrap(), Cli::Version);
        let e = parse(&args(&["install", "--user", "--sys-prefix"])).unwrap_err();
        assert!(e.to_string().contains("exclude each other"), "{e}");
        let e = parse(&args(&["--connection-file"])).unwrap_err();
        assert!(
            e.to_string().contains("--connection-file needs a value"),
            "{e}"
        );
        let e = parse(&args(&["serve"])).unwrap_err();
        assert!(e.to_string().contains("unexpected argument `serve`"), "{e}");
        assert!(parse(&[]).is_err());
    }
}

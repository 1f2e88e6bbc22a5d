//! Atomic writes: a temporary file (or directory) beside the target, renamed into
//! place only when it is complete.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `path` atomically: `write` fills a temporary file beside it, which is
/// renamed over `path` only when `write` succeeds. On error nothing is left behind.
pub fn write_atomically<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<&mut std::fs::File>) -> Result<()>,
{
    let dir = parent_of(path);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    remove_stale_temporaries(dir);
    let mut tmp = tempfile::Builder::new()
        .prefix(&own_prefix())
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.flush().map_err(|e| Error::io(path, e))?;
    }
    readable_by_all(tmp.path(), 0o644)?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Temporary files are private (0600/0700); what they become is a normal output.
fn readable_by_all(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(path, e))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes the directory `path` atomically: `fill` writes its files into a
/// temporary directory beside it, which replaces `path` only when `fill`
/// succeeds. A previous directory at `path` is replaced only if `is_ours` says it
/// is one of ours, a `what` (so a wrong `--output` never deletes someone's folder).
pub fn write_dir_atomically(
    path: &Path,
    what: &str,
    is_ours: impl Fn(&Path) -> bool,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let parent = parent_of(path);
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    if path.exists() && !(path.is_dir() && is_ours(path)) {
        return Err(Error::InvalidArgument(format!(
            "{} exists and is not a {what}; refusing to replace it",
            path.display()
        )));
    }
    remove_stale_temporaries(parent);
    let tmp = tempfile::Builder::new()
        .prefix(&own_prefix())
        .suffix(".tmp")
        .tempdir_in(parent)
        .map_err(|e| Error::io(parent, e))?;
    // An error inside the temporary directory names the file it was to become.
    fill(tmp.path()).map_err(|e| match e {
        Error::Io { path: p, source } => Error::Io {
            path: p
                .strip_prefix(tmp.path())
                .map(|rel| path.join(rel))
                .unwrap_or(p),
            source,
        },
        e => e,
    })?;
    readable_by_all(tmp.path(), 0o755)?;
    if !path.exists() {
        let tmp = tmp.keep();
        return std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e));
    }
    // Swap in one step where the OS can: a kill at any moment leaves either the
    // old directory or the new one at `path`, never neither. The old one ends up
    // at the temporary path, removed when `tmp` drops.
    match exchange(tmp.path(), path) {
        Ok(()) => {
            crash_point("dir-swapped");
            return Ok(());
        }
        Err(e) if e.raw_os_error() != Some(EXCHANGE_UNSUPPORTED) => {
            return Err(Error::io(path, e));
        }
        Err(_) => {}
    }
    // Elsewhere: the old directory moves aside, the new one in, then the old one goes.
    let old = tempfile::Builder::new()
        .prefix(&own_prefix())
        .tempdir_in(parent)
        .map_err(|e| Error::io(parent, e))?;
    let aside = old.path().join("index");
    std::fs::rename(path, &aside).map_err(|e| Error::io(path, e))?;
    crash_point("dir-swapped");
    if let Err(e) = std::fs::rename(tmp.path(), path) {
        let _ = std::fs::rename(&aside, path);
        return Err(Error::io(path, e));
    }
    let _ = tmp.keep();
    Ok(())
}

/// The prefix of this process's temporary directories: `.rankbook-<pid>-`, so
/// that a later run can tell a killed writer's leftovers from a live one's.
fn own_prefix() -> String {
    format!(".rankbook-{}-", std::process::id())
}

/// Removes the temporary files and directories in `parent` that a killed
/// process left (its pid no longer runs); best effort, errors ignored.
fn remove_stale_temporaries(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(".rankbook-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !process_alive(pid) {
            let _ = match e.path().is_dir() {
                true => std::fs::remove_dir_all(e.path()),
                false => std::fs::remove_file(e.path()),
            };
        }
    }
}

/// Whether process `pid` runs (Linux: its /proc entry); elsewhere assumed so,
/// which only leaves leftovers in place.
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// The error of an exchange the file system or kernel cannot do.
#[cfg(target_os = "linux")]
const EXCHANGE_UNSUPPORTED: i32 = libc::EINVAL;
#[cfg(not(target_os = "linux"))]
const EXCHANGE_UNSUPPORTED: i32 = -1;

/// Exchanges the directories `a` and `b` atomically (Linux `renameat2` with
/// `RENAME_EXCHANGE`).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: two NUL-terminated paths relative to the working directory.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    // ENOSYS (old kernel) is handled as EINVAL (a file system without it).
    match e.raw_os_error() {
        Some(libc::ENOSYS) => Err(std::io::Error::from_raw_os_error(libc::EINVAL)),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from_raw_os_error(EXCHANGE_UNSUPPORTED))
}

/// Aborts the process here when `RANKBOOK_CRASH_AT` names this point: the
/// crash-consistency tests kill a write at its most delicate moment instead of
/// hoping a random kill lands there.
fn crash_point(name: &str) {
    if std::env::var_os("RANKBOOK_CRASH_AT").is_some_and(|v| v == name) {
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_replaced_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx");
        let ours = |p: &Path| p.join("m").exists();
        let write = |text: &'static str| {
            move |d: &Path| std::fs::write(d.join("m"), text).map_err(|e| Error::io(d, e))
        };
        write_dir_atomically(&path, "test dir", ours, write("one")).unwrap();
        let r = write_dir_atomically(&path, "test dir", ours, |d| {
            std::fs::write(d.join("m"), "half").unwrap();
            Err(Error::InvalidArgument("killed".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(path.join("m")).unwrap(), "one");
        write_dir_atomically(&path, "test dir", ours, write("two")).unwrap();
        assert_eq!(std::fs::read_to_string(path.join("m")).unwrap(), "two");
        // Nothing but the index is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // A folder that is not ours is never replaced.
        let other = dir.path().join("photos");
        std::fs::create_dir(&other).unwrap();
        let e = write_dir_atomically(&other, "test dir", ours, write("x"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("refusing to replace it"), "{e}");
    }

    /// A process killed in the middle of swapping an index folder leaves one at
    /// its path (run in a child that aborts at the swap).
    #[test]
    fn a_kill_during_the_swap_leaves_a_whole_directory() {
        let dir = std::env::var_os("RANKBOOK_SWAP_CHILD");
        if let Some(dir) = dir {
            let path = Path::new(&dir).join("idx");
            let ours = |p: &Path| p.join("m").exists();
            write_dir_atomically(&path, "test dir", ours, |d| {
                std::fs::write(d.join("m"), "two").map_err(|e| Error::io(d, e))
            })
            .unwrap();
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("m"), "one").unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "atomic::tests::a_kill_during_the_swap_leaves_a_whole_directory",
                "--exact",
            ])
            .env("RANKBOOK_SWAP_CHILD", dir.path())
            .env("RANKBOOK_CRASH_AT", "dir-swapped")
            .output()
            .unwrap();
        assert!(!out.status.success(), "the child was to abort at the swap");
        let m = std::fs::read_to_string(path.join("m"))
            .expect("a directory with its file at the path after the kill");
        assert!(m == "one" || m == "two", "{m}");
    }

    #[test]
    fn a_killed_writers_temporary_directory_is_removed_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx");
        // pid 0 never runs a writer; a live pid's directory stays.
        let dead = dir.path().join(".rankbook-0-abc.tmp");
        let live = dir
            .path()
            .join(format!(".rankbook-{}-abc.tmp", std::process::id()));
        for d in [&dead, &live] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("postings.bin"), "half").unwrap();
        }
        write_dir_atomically(
            &path,
            "test dir",
            |_| true,
            |d| std::fs::write(d.join("m"), "one").map_err(|e| Error::io(d, e)),
        )
        .unwrap();
        assert!(!dead.exists() && live.exists());
    }

    #[test]
    fn a_killed_writers_temporary_file_is_removed_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join(".rankbook-0-abc.tmp");
        let live = dir
            .path()
            .join(format!(".rankbook-{}-abc.tmp", std::process::id()));
        for f in [&dead, &live] {
            std::fs::write(f, "half a run").unwrap();
        }
        let path = dir.path().join("run.trec");
        write_atomically(&path, |w| {
            w.write_all(b"q 0 d 1 1 r\n")
                .map_err(|e| Error::io(&path, e))
        })
        .unwrap();
        assert!(!dead.exists() && live.exists());
    }

    #[test]
    fn failed_write_leaves_nothing_and_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::fs::write(&path, "old").unwrap();
        let r = write_atomically(&path, |w| {
            w.write_all(b"partial").unwrap();
            Err(Error::InvalidArgument("boom".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomically(&path, |w| {
            w.write_all(b"new").map_err(|e| Error::io("x", e))
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    }
}

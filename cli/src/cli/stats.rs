//! `--stats-json FILE`: a machine-readable summary of a command (counts, seconds
//! per phase, peak RSS) for benchmarks and scripts, so that none of them reads
//! timings out of log lines meant for people.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

/// What the running command has recorded (one command per process).
#[derive(Default)]
struct Stats {
    counts: BTreeMap<String, u64>,
    seconds: BTreeMap<String, f64>,
}

static STATS: Mutex<Stats> = Mutex::new(Stats {
    counts: BTreeMap::new(),
    seconds: BTreeMap::new(),
});

fn with(f: impl FnOnce(&mut Stats)) {
    f(&mut STATS.lock().unwrap_or_else(|p| p.into_inner()));
}

/// Records a count (`queries`, `docs`, `texts`, `tokens`, ...).
pub fn count(name: &str, n: usize) {
    with(|s| {
        s.counts.insert(name.into(), n as u64);
    });
}

/// Records the seconds a phase took (`load`, `encode`, `search`, ...).
pub fn seconds(phase: &str, s: f64) {
    with(|st| {
        st.seconds.insert(phase.into(), s);
    });
}

/// The process's peak resident set in MiB (Linux `VmHWM`; None elsewhere).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Writes the summary of `command` (which ran `total` seconds) to `path`, atomically.
pub fn write(path: &Path, command: &str, total: f64) -> anyhow::Result<()> {
    let mut json = serde_json::Map::new();
    with(|s| {
        let mut seconds = s.seconds.clone();
        seconds.insert("total".into(), total);
        json.insert("command".into(), command.into());
        json.insert(
            "counts".into(),
            serde_json::to_value(&s.counts).unwrap_or_default(),
        );
        json.insert(
            "seconds".into(),
            serde_json::to_value(&seconds).unwrap_or_default(),
        );
    });
    json.insert("peak_rss_mib".into(), peak_rss_mib().into());
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(json))?;
    rankbook::atomic::write_atomically(path, |w| {
        std::io::Write::write_all(w, text.as_bytes()).map_err(|e| rankbook::Error::io(path, e))
    })?;
    Ok(())
}

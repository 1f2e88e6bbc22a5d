//! What the host of a scripting session offers bindings: a sink for rich
//! output (live training views in a notebook), the progress interface (a bar
//! in `rankbook run`, display updates in the kernel) and the interrupt as the
//! core's cancellation flag. Unset, long operations draw nothing and cannot be
//! cancelled.

use std::sync::{Arc, RwLock};

use rankbook::progress::{CancelFlag, NoProgress, Progress};

use crate::session::OutputSink;

/// The host's sink, progress and cancellation flag.
#[derive(Clone)]
pub struct Host {
    /// Where rich output goes (None: a terminal, no rich output).
    pub sink: Option<OutputSink>,
    /// Set when the user interrupts.
    pub cancel: CancelFlag,
    /// Receives the progress of long operations.
    pub progress: Arc<dyn Progress>,
}

static HOST: RwLock<Option<Host>> = RwLock::new(None);

/// Installs (or removes) the host.
pub fn set_host(host: Option<Host>) {
    if let Ok(mut h) = HOST.write() {
        *h = host;
    }
}

/// The current host, if any.
pub fn host() -> Option<Host> {
    HOST.read().ok().and_then(|h| h.clone())
}

/// The host's progress, or progress that goes nowhere.
pub fn progress() -> Arc<dyn Progress> {
    host().map_or_else(|| Arc::new(NoProgress) as Arc<dyn Progress>, |h| h.progress)
}

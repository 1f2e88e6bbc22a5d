//! What the host of a scripting session (a notebook kernel) offers bindings:
//! a sink for rich output (live training views) and the interrupt as the
//! core's cancellation flag. Unset in `rankbook run`, where long operations
//! draw nothing and stop with the process.

use std::sync::RwLock;

use rankbook::progress::CancelFlag;

use crate::session::OutputSink;

/// The host's sink and cancellation flag.
#[derive(Clone)]
pub struct Host {
    /// Where rich output goes.
    pub sink: OutputSink,
    /// Set when the user interrupts.
    pub cancel: CancelFlag,
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

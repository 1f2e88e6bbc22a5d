//! What the host of a scripting session offers bindings: a sink for rich
//! output (live training views in a notebook), the progress interface (a bar
//! in `rankbook run`, display updates in the kernel) and the interrupt as the
//! core's cancellation flag. Unset, long operations draw nothing and cannot be
//! cancelled.
//!
//! The host belongs to whoever runs the script (a `Session`, `rankbook run`),
//! which passes it in for the duration of a run with [`with_host`]: two sessions
//! in one process never see each other's host.

use std::cell::RefCell;
use std::sync::Arc;

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

thread_local! {
    /// The host of the script running on this thread.
    static CURRENT: RefCell<Option<Host>> = const { RefCell::new(None) };
}

/// Runs `f` (a script, a cell) with `host` as the host its bindings see; the
/// previous host is restored afterwards, also when `f` panics.
pub fn with_host<T>(host: Option<Host>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Host>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let previous = CURRENT.with(|c| c.replace(host));
    let _restore = Restore(previous);
    f()
}

/// The host of the running script, if any.
pub fn host() -> Option<Host> {
    CURRENT.with(|c| c.borrow().clone())
}

/// The host's progress, or progress that goes nowhere.
pub fn progress() -> Arc<dyn Progress> {
    host().map_or_else(|| Arc::new(NoProgress) as Arc<dyn Progress>, |h| h.progress)
}
